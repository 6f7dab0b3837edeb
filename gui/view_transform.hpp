#pragma once
namespace ihc::gui {}
