#include "gui/view_transform.hpp"
