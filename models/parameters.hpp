#pragma once
// Parameters declared once (key, label, default, unit, help); the same list drives the command line
// (--set key=value), the parameter file (--params, `ihcscore params --show`) and the viewer's form.
#include <functional>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace ihc {

enum class ParamType { Double, Int, Bool, Choice, String };

struct ParamSpec {
  std::string key;    // snake_case with the unit in the name: "sigma_um", "min_area_um2"
  std::string label;  // for the viewer's form: "Sigma"
  ParamType type = ParamType::Double;
  std::string default_value;  // textual, parsed like a user value
  std::string unit;           // "um", "um^2", "OD", "" when unitless
  std::string help;           // one line
  double min = -1e300;        // inclusive bounds for Double/Int
  double max = 1e300;
  std::vector<std::string> choices;  // for Choice
  // What neither type nor range says (a colour, a stain string): "" accepts the value, anything else is why
  // it is refused, given after "parameter 'key': " with where the value came from. Runs on the default too.
  std::function<std::string(const std::string& value)> check;
  // A text value's one spelling, applied after `check` passed (numbers are stored in their shortest form
  // already): "245, 244,240" and "245,244,240" are one setting in the files and the hashes --resume compares.
  std::function<std::string(const std::string& value)> normalize;
};

// A number as parameters read one: the whole text, a leading '+' allowed, finite ("nan", "1e400" and "2um"
// are not). Also for the text parameters that hold a number (group_cutoff).
bool parse_param_number(const std::string& text, double* out);

// Thrown for unknown keys, wrong types, out-of-range values; what() names the key, and the file and line
// when the value came from a file.
class ParamError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Values for a list of specs; starts at the defaults. Later sets win (preset, then file, then --set).
class ParamSet {
 public:
  ParamSet() = default;
  explicit ParamSet(std::vector<ParamSpec> specs);

  const std::vector<ParamSpec>& specs() const { return specs_; }
  const ParamSpec* find(const std::string& key) const;

  // Validates and stores; `origin` ("--set", "params.txt:12") is used in error messages.
  void set(const std::string& key, const std::string& value, const std::string& origin = "--set");
  // Parses "key = value" lines (ended by LF, CR LF or CR alone), '#' comments, blank lines. Errors name the
  // file, line and key; UTF-16 text is refused as such.
  void load_file(const std::string& path);
  void load_text(const std::string& text, const std::string& origin);
  // A file that load_file reads back: per key a "# label [unit]: help" comment, then "key = value".
  std::string to_text() const;

  std::string get_string(const std::string& key) const;
  double get_double(const std::string& key) const;
  int get_int(const std::string& key) const;
  bool get_bool(const std::string& key) const;
  const std::map<std::string, std::string>& values() const { return values_; }
  // Where a key's value came from: "p.params:3", "--set", "ki67.params:12" (a preset), "default".
  std::string origin(const std::string& key) const;
  // `message` of a check between parameters, with where each key it names was set: "...
  // (threshold_1plus from p.params:2, threshold_2plus from dsg2.params:40)".
  std::string with_origins(const std::string& message) const;

 private:
  std::vector<ParamSpec> specs_;
  std::map<std::string, std::string> values_;
  std::map<std::string, std::string> origins_;
};

}  // namespace ihc
