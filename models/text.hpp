#pragma once
// Small text helpers shared by readers of names typed by people (file extensions, class names, flags).
#include <cstddef>
#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ihc {

// `s` without the spaces, tabs and line ends (CR, LF) around it.
std::string trim_blanks(std::string_view s);

// The items with `sep` between them ("a, b, c").
std::string join(const std::vector<std::string>& items, const std::string& sep);

// `s` with A-Z turned to a-z; other bytes (UTF-8 included) unchanged, whatever the C locale.
std::string ascii_lower(std::string s);

// 64-bit FNV-1a of `bytes`, continued from `h` (hash several pieces in turn): stable across runs and builds,
// for hashes kept in files (parameter hashes, file fingerprints, rescued review names).
inline constexpr std::uint64_t kFnv1aBasis = 0xCBF29CE484222325ULL;
std::uint64_t fnv1a(std::string_view bytes, std::uint64_t h = kFnv1aBasis);

// Levenshtein distance in bytes: insertions, deletions and substitutions of one byte each.
std::size_t edit_distance(const std::string& a, const std::string& b);

// The name of `names` that `typed` most likely meant, or "" when none is close: one that `typed` (3 bytes or
// more) is a prefix of, or that is a prefix of it ("sigma" for "sigma_um", "estimat" for "estimate"), else
// the nearest within max(2, size / 3) edits; ties go to the earlier name. What unknown parameter keys,
// commands and subcommands suggest ("did you mean ...?").
std::string closest_name(const std::string& typed, const std::vector<std::string>& names);

// The character at s[i] when a well-formed UTF-8 sequence starts there (no overlong forms, surrogates or code
// points above U+10FFFF): its length in bytes and code point; length 0 when none does, with `*cut` set when
// the end of `s` cuts one short.
std::pair<std::size_t, char32_t> utf8_at(std::string_view s, std::size_t i, bool* cut = nullptr);

// Length of the longest prefix of `s` that is well-formed UTF-8 (no overlong forms, surrogates or code points
// above U+10FFFF); with `cut`, whether what follows it is a character the end of `s` cuts short (a file's
// first bytes), not a malformed one.
std::size_t utf8_prefix(std::string_view s, bool* cut = nullptr);

// True when `s` is well-formed UTF-8 (utf8_prefix is all of it).
bool is_utf8(std::string_view s);

// `s` when it is UTF-8, else `s` read as Windows-1252 (Excel's "CSV" and Windows file names in Western
// locales; Latin-1 is its subset) and written as UTF-8. Every byte string is valid Windows-1252 as read by
// browsers (the five unassigned bytes become C1 controls), so nothing is lost.
std::string as_utf8(std::string_view s);

// Walks JSON text position by position, telling its structure from the inside of its strings (escapes
// included): feed every position in order; advances `i` past an escaped character.
class JsonStringSkipper {
 public:
  // True when text[i] is outside every string and not a quote.
  bool outside_string(std::string_view text, std::size_t& i);

 private:
  bool in_string_ = false;
};

// JSON nested deeper than this is refused before it is parsed: copying, printing and walking a parsed value
// recurse, and a file of 100000 nested brackets overflowed the stack (a crash, not an error).
inline constexpr std::size_t kMaxJsonDepth = 256;
// "JSON nested deeper than 256 levels (byte 300)" when `text`'s brackets ([ and { outside strings) nest
// deeper than kMaxJsonDepth, else empty.
std::string json_depth_problem(std::string_view text);
// Parses `text` into *out (nlohmann, depth checked first). Empty on success, else the problem for a message
// after the file's name: the depth's, or json_error_text's.
std::string json_parse_problem(std::string_view text, nlohmann::json* out);
// nlohmann's exception message in the one form every JSON reader gives after the file's name, with the line
// and column a text editor shows: "not valid JSON at line 4, column 12: syntax error while parsing object -
// unexpected '}'; expected string literal", "not valid JSON: number overflow parsing '1e400'". The token
// quoted as last read is cut to 60 characters (an unclosed string runs to the end of the file).
std::string json_error_text(const std::string& what);
// nlohmann's message about a value of a well-formed document ("[json.exception.type_error.302] type must be
// string, but is array") as "unexpected JSON value: type must be string, but is array".
std::string json_value_error_text(const std::string& what);

// `j` as JSON text for a file; a string that is not UTF-8 gets U+FFFD for its bad bytes instead of an
// exception (a Latin-1 file name in run.json stopped a whole batch before its first slide).
std::string json_text(const nlohmann::json& j, int indent = -1);

// A user's JSON value in an error message: as written, bad UTF-8 replaced, cut to `max_chars` with "...".
std::string json_excerpt(const nlohmann::json& j, std::size_t max_chars = 60);

}  // namespace ihc
