// ihcscore cohort: slide scores + clinical data -> groups, Kaplan-Meier, log-rank, Cox, correlation, report.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <sstream>

#include "cli/cli_common.hpp"
#include "cli/commands.hpp"
#include "ihc/version.hpp"
#include "imaging/png_io.hpp"
#include "models/atomic_file.hpp"
#include "models/cohort.hpp"
#include "models/plot.hpp"
#include "models/results_io.hpp"
#include "models/text.hpp"

namespace ihc::cli {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

json num_or_null(double v) { return std::isfinite(v) ? json(v) : json(nullptr); }

std::string fmt(double v, int decimals = 3) {
  if (!std::isfinite(v)) return "NA";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

std::string html_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '<')
      out += "&lt;";
    else if (c == '>')
      out += "&gt;";
    else if (c == '&')
      out += "&amp;";
    else if (c == '"')
      out += "&quot;";
    else
      out += c;
  }
  return out;
}

std::string iso_now() {
  std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

std::string safe_name(const std::string& s) {
  std::string out;
  for (char c : s) out += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
  return out;
}

// The names cohort gives its scatter plots: scatter.png, scatter_<safe_name(column)>.png.
bool scatter_plot_name(const std::string& name) {
  if (name == "scatter.png") return true;
  const std::string head = "scatter_", tail = ".png";
  if (name.size() <= head.size() + tail.size() || name.rfind(head, 0) != 0 ||
      name.compare(name.size() - tail.size(), tail.size(), tail) != 0)
    return false;
  return std::all_of(name.begin() + static_cast<std::ptrdiff_t>(head.size()),
                     name.end() - static_cast<std::ptrdiff_t>(tail.size()),
                     [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; });
}

json km_json(const GroupSurvival& g) {
  json steps = json::array();
  for (const auto& s : g.km.steps) {
    steps.push_back({{"time", s.time},
                     {"n_risk", s.n_risk},
                     {"n_event", s.n_event},
                     {"n_censor", s.n_censor},
                     {"surv", s.surv},
                     {"std_err", num_or_null(s.std_err)},
                     {"lower", num_or_null(s.lower)},
                     {"upper", num_or_null(s.upper)}});
  }
  json at = json::array();
  for (const auto& a : g.at_times) {
    at.push_back({{"time", a.time},
                  {"surv", num_or_null(a.surv)},
                  {"lower", num_or_null(a.lower)},
                  {"upper", num_or_null(a.upper)},
                  {"n_risk", a.n_risk}});
  }
  return {{"group", g.name},
          {"n", g.n},
          {"events", g.events},
          {"score_min", num_or_null(g.n ? g.score_min : NAN)},
          {"score_max", num_or_null(g.n ? g.score_max : NAN)},
          {"median", num_or_null(g.km.median)},
          {"median_lower", num_or_null(g.km.median_lower)},
          {"median_upper", num_or_null(g.km.median_upper)},
          {"survival_at", at},
          {"steps", steps}};
}

}  // namespace

int run_cohort(const Args& args) {
  CLI::App app{"Cohort analysis of slide scores: groups, Kaplan-Meier, log-rank, Cox, correlation",
               "ihcscore cohort"};
  CohortOptions o;
  std::string scores_path, clinical_path, slide_map_path, out_dir, time_unit = "months", times_text;
  app.add_option("--scores", scores_path,
                 "summary.csv written by 'ihcscore score' (its output folder reads its summary.csv)")
      ->required();
  app.add_option("--clinical", clinical_path, "clinical CSV, one row per patient")->required();
  app.add_option("--id-column", o.id_column, "patient id column (clinical file and slide map)")
      ->capture_default_str();
  app.add_option("--slide-map", slide_map_path,
                 "CSV mapping Image to patient id (default: Image = patient id)");
  app.add_option("--image-column", o.image_column, "image column in scores and slide map")
      ->capture_default_str();
  app.add_option("--time-column", o.time_column, "follow-up time column")->capture_default_str();
  app.add_option("--time-unit", time_unit, "unit of the time column: days, months or years")
      ->check(CLI::IsMember({"days", "months", "years"}))
      ->capture_default_str();
  auto* ev = app.add_option("--event-column", o.event_column, "event column (event value = observed event)");
  auto* ce =
      app.add_option("--censored-column", o.censored_column, "censored column (censored value = censored)");
  ev->excludes(ce);
  app.add_option("--event-value", o.event_value,
                 "value meaning 'event observed' (default 1; 0 with --censored-column)");
  app.add_option("--censored-value", o.censored_value,
                 "value meaning 'censored' (default 0; 1 with --censored-column)");
  app.add_option("--score", o.score_column, "score column of the scores file")->capture_default_str();
  app.add_option("--cutoff", o.cutoff, "median, tertiles, quartiles, a number (>= is high), or optimal")
      ->capture_default_str();
  app.add_flag("--optimal-cutoff", o.allow_optimal,
               "allow --cutoff optimal (maximally selected log-rank; optimistic, labelled so everywhere)");
  app.add_option(
      "--region", o.region,
      "with --scores regions.csv (or regions_stats.csv): the region to analyse, by its Region name");
  app.add_flag("--keep-other-stains", o.keep_other_stains,
               "analyse slides whose Status says they look like H&E or fluorescence, not H-DAB (left out by "
               "default)");
  app.add_option("--aggregate", o.aggregate, "several slides per patient: median, mean or max")
      ->check(CLI::IsMember({"median", "mean", "max"}))
      ->capture_default_str();
  app.add_option("--correlate", o.correlate,
                 "clinical column(s) to correlate with the score (Pearson, Spearman)");
  app.add_option("--covariate", o.covariates, "numeric clinical column(s) added to the Cox model");
  app.add_option("--times", times_text,
                 "report survival at these times, comma-separated (default 1, 3, 5 years)");
  app.add_option("-o,--output", out_dir, "report folder")->required();
  if (auto stop = parse_command_line(app, args)) return *stop;
  if (o.event_column.empty() && o.censored_column.empty()) {
    std::fprintf(stderr, "ihcscore cohort: give --event-column or --censored-column\n");
    return 1;
  }
  if (!o.censored_column.empty()) {
    bool ev_given = app.count("--event-value") > 0, ce_given = app.count("--censored-value") > 0;
    if (!ev_given) o.event_value = "0";
    if (!ce_given) o.censored_value = "1";
  }
  try {
    validate_event_coding(o);
  } catch (const CohortError& e) {
    std::fprintf(stderr, "ihcscore cohort: %s\n", e.what());
    return 1;
  }
  // A batch folder stands for its summary.csv, as `ihcscore reviewed OUT` takes the folder.
  if (std::error_code ec; fs::is_directory(scores_path, ec)) {
    const fs::path folder(scores_path);
    if (!fs::is_regular_file(folder / "summary.csv", ec)) {
      std::fprintf(stderr,
                   "ihcscore cohort: --scores %s: a folder without summary.csv: give an output folder of "
                   "ihcscore score or a scores file\n",
                   scores_path.c_str());
      return 1;
    }
    if (fs::exists(folder / "reviewed_summary.csv", ec)) {
      std::fprintf(
          stderr,
          "ihcscore cohort: note: reading the automatic scores, %s; %s has the reviewed ones (give it "
          "as --scores to analyse them)\n",
          (folder / "summary.csv").c_str(), (folder / "reviewed_summary.csv").c_str());
    }
    scores_path = (folder / "summary.csv").string();
  }
  const double year = time_unit == "days" ? 365.25 : time_unit == "months" ? 12.0 : 1.0;
  if (times_text.empty()) {
    o.times = {1 * year, 3 * year, 5 * year};
  } else {
    std::stringstream ss(times_text);
    std::string item;
    while (std::getline(ss, item, ',')) {
      char* end = nullptr;
      const double v = std::strtod(item.c_str(), &end);
      if (item.empty() || *end != '\0' || v < 0) {
        std::fprintf(stderr, "ihcscore cohort: --times: '%s' is not a non-negative number\n", item.c_str());
        return 1;
      }
      o.times.push_back(v);
    }
  }

  Cohort cohort;
  CohortStats st;
  try {
    const CsvTable scores = read_csv_table(scores_path);
    const CsvTable clinical = read_csv_table(clinical_path);
    CsvTable map;
    if (!slide_map_path.empty()) map = read_csv_table(slide_map_path);
    cohort = build_cohort(scores, clinical, slide_map_path.empty() ? nullptr : &map, o);
    st = analyse_cohort(cohort, o);
  } catch (const std::runtime_error& e) {  // CsvError, CohortError: both name the file and line
    std::fprintf(stderr, "ihcscore cohort: %s\n", e.what());
    return 1;
  }

  const std::filesystem::path out(out_dir);
  bool written = false;  // some of this run's report is in `out`
  try {
    ensure_directory(out);
    // cohort.csv
    // Each clinical column once, though it be both correlated and a covariate: cohort refuses a table with a
    // repeated column, and so would R's read.csv (age, age.1).
    std::vector<std::string> clinical_columns;
    for (const auto* list : {&o.correlate, &o.covariates}) {
      for (const auto& c : *list) {
        if (std::find(clinical_columns.begin(), clinical_columns.end(), c) == clinical_columns.end())
          clinical_columns.push_back(c);
      }
    }
    std::string csv = "patient_id,score,group,time,event,n_slides,slides";
    for (const auto& c : clinical_columns) csv += "," + csv_field(c);
    csv += "\n";
    for (const auto& p : cohort.patients) {
      std::string slides;
      for (std::size_t i = 0; i < p.slides.size(); ++i) slides += (i ? ";" : "") + p.slides[i];
      csv += csv_field(p.id) + "," + format_number(p.score) + "," + csv_field(cohort.group_names[p.group]) +
             "," + format_number(p.time) + "," + std::to_string(p.event) + "," +
             std::to_string(p.slides.size()) + "," + csv_field(slides);
      for (const auto& c : clinical_columns) csv += "," + format_number(p.values.at(c));
      csv += "\n";
    }
    write_file_atomic(out / "cohort.csv", csv);
    written = true;

    // groups.csv
    std::string g = "group,n,events,score_min,score_max,median_survival,median_lower,median_upper";
    for (double t : o.times) {
      const std::string tt = format_number(t);
      g += ",surv_" + tt + ",surv_" + tt + "_lower,surv_" + tt + "_upper";
    }
    g += "\n";
    for (const auto& gs : st.groups) {
      g += csv_field(gs.name) + "," + std::to_string(gs.n) + "," + std::to_string(gs.events) + "," +
           format_number(gs.n ? gs.score_min : NAN) + "," + format_number(gs.n ? gs.score_max : NAN) + "," +
           format_number(gs.n ? gs.km.median : NAN) + "," + format_number(gs.n ? gs.km.median_lower : NAN) +
           "," + format_number(gs.n ? gs.km.median_upper : NAN);
      for (std::size_t i = 0; i < o.times.size(); ++i) {
        if (i < gs.at_times.size()) {
          g += "," + format_number(gs.at_times[i].surv) + "," + format_number(gs.at_times[i].lower) + "," +
               format_number(gs.at_times[i].upper);
        } else {
          g += ",,,";
        }
      }
      g += "\n";
    }
    write_file_atomic(out / "groups.csv", g);

    // exclusions.csv: nobody is dropped silently.
    std::string ex = "source,id,line,reason\n";
    for (const auto& e : cohort.exclusions) {
      ex += csv_field(e.source) + "," + csv_field(e.id) + "," + std::to_string(e.line) + "," +
            csv_field(e.reason) + "\n";
    }
    write_file_atomic(out / "exclusions.csv", ex);

    // stats.json
    json j;
    j["tool"] = {{"name", "ihcscore cohort"}, {"version", kVersion}};
    j["created"] = iso_now();
    j["inputs"] = {{"scores", scores_path}, {"clinical", clinical_path}, {"slide_map", slide_map_path}};
    j["parameters"] = {{"score", o.score_column},
                       {"cutoff", o.cutoff},
                       {"aggregate", o.aggregate},
                       {"id_column", o.id_column},
                       {"time_column", o.time_column},
                       {"time_unit", time_unit},
                       {"event_column", o.event_column},
                       {"censored_column", o.censored_column},
                       {"event_value", o.event_value},
                       {"censored_value", o.censored_value},
                       {"correlate", o.correlate},
                       {"covariates", o.covariates},
                       {"times", o.times},
                       {"conf_level", o.conf_level}};
    j["n_patients"] = cohort.patients.size();
    j["cutoffs"] = cohort.cutoffs;
    j["optimistic"] = cohort.optimistic;
    if (cohort.optimistic) j["optimistic_note"] = cohort.optimistic_note;
    j["groups"] = json::array();
    for (const auto& gs : st.groups) j["groups"].push_back(km_json(gs));
    const bool has_log_rank = st.log_rank.note.empty();
    j["log_rank"] = {{"chisq", has_log_rank ? json(st.log_rank.chisq) : json(nullptr)},
                     {"df", has_log_rank ? json(st.log_rank.df) : json(nullptr)},
                     {"p", num_or_null(st.log_rank.p)},
                     {"observed", st.log_rank.observed},
                     {"expected", st.log_rank.expected}};
    if (!has_log_rank) j["log_rank"]["note"] = st.log_rank.note;
    if (st.has_cox) {
      json terms = json::array();
      for (const auto& t : st.cox.terms) {
        terms.push_back({{"term", t.name},
                         {"coef", t.coef},
                         {"hr", t.hr},
                         {"se", t.se},
                         {"z", t.z},
                         {"p", t.p},
                         {"hr_lower", t.hr_lower},
                         {"hr_upper", t.hr_upper}});
      }
      j["cox"] = {{"ties", "efron"},
                  {"n", st.cox.n},
                  {"events", st.cox.events},
                  {"terms", terms},
                  {"loglik_null", st.cox.loglik_null},
                  {"loglik", st.cox.loglik},
                  {"lr_chisq", st.cox.lr_chisq},
                  {"lr_p", st.cox.lr_p}};
    } else {
      j["cox"] = {{"note", st.cox_note}};
    }
    if (!st.cox_left_out.empty()) {
      json left_out = json::array();
      for (const auto& t : st.cox_left_out) left_out.push_back({{"term", t.term}, {"reason", t.reason}});
      j["cox"]["left_out"] = left_out;
    }
    j["correlations"] = json::array();
    for (const auto& c : st.correlations) {
      auto& entry = j["correlations"].emplace_back(json{{"column", c.column},
                                                        {"n", c.n},
                                                        {"pearson",
                                                         {{"r", num_or_null(c.pearson.r)},
                                                          {"t", num_or_null(c.pearson.statistic)},
                                                          {"p", num_or_null(c.pearson.p)}}},
                                                        {"spearman",
                                                         {{"rho", num_or_null(c.spearman.r)},
                                                          {"p", num_or_null(c.spearman.p)},
                                                          {"method", "t approximation (R exact = FALSE)"}}}});
      if (!c.note.empty()) entry["note"] = c.note;
    }
    j["exclusions"] = json::array();
    for (const auto& e : cohort.exclusions) {
      j["exclusions"].push_back({{"source", e.source}, {"id", e.id}, {"line", e.line}, {"reason", e.reason}});
    }
    write_file_atomic(out / "stats.json", json_text(j, 2) + "\n");

    // Plots.
    plot::KmLabels labels;
    labels.title =
        "Survival by " + o.score_column + " (" +
        (o.cutoff == "median" || o.cutoff == "tertiles" || o.cutoff == "quartiles" || o.cutoff == "optimal"
             ? o.cutoff + " cutoff"
             : "cutoff " + o.cutoff) +
        ")";
    labels.time_label = o.time_column + " (" + time_unit + ")";
    plot::SvgCanvas svg(plot::kKmWidth, plot::km_height(cohort));
    plot::draw_km(svg, cohort, st, labels);
    write_file_atomic(out / "km.svg", svg.str());
    plot::RasterCanvas png(plot::kKmWidth, plot::km_height(cohort), 1.6);
    plot::draw_km(png, cohort, st, labels);
    save_png(out / "km.png", png.image());
    std::vector<std::string> scatter_files;
    for (std::size_t i = 0; i < st.correlations.size(); ++i) {
      if (!st.correlations[i].note.empty()) continue;  // no r to show; the report says why
      const std::string name =
          i == 0 ? "scatter.png" : "scatter_" + safe_name(st.correlations[i].column) + ".png";
      plot::RasterCanvas sc(plot::kScatterWidth, plot::kScatterHeight, 1.6);
      plot::draw_scatter(sc, cohort, st.correlations[i], o.score_column);
      save_png(out / name, sc.image());
      scatter_files.push_back(name);
    }
    // A report written here before may have plotted correlations this run does not (another --correlate,
    // or one not computable now): its plots would pass for this run's. Only cohort's own plot names go.
    std::vector<fs::path> stale;
    std::error_code ec;
    for (fs::directory_iterator it(out, ec), end; !ec && it != end; it.increment(ec)) {
      const std::string name = it->path().filename().string();
      if (scatter_plot_name(name) && it->is_regular_file(ec) &&
          std::find(scatter_files.begin(), scatter_files.end(), name) == scatter_files.end()) {
        stale.push_back(it->path());
      }
    }
    for (const auto& p : stale) {
      if (!fs::remove(p, ec) && ec) throw FileError(p, "cannot remove this earlier plot: " + ec.message());
    }

    // report.html
    std::ostringstream h;
    h << "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Cohort report: "
      << html_escape(o.score_column)
      << "</title>\n<style>body{font-family:Helvetica,Arial,sans-serif;max-width:1100px;margin:2em auto;}"
         "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px "
         "8px;text-align:right}"
         "th{background:#f3f3f3}td:first-child{text-align:left}.warn{color:#b00;font-weight:bold}"
         "img{max-width:100%}</style></head><body>\n";
    h << "<h1>Cohort report: " << html_escape(o.score_column) << "</h1>\n";
    if (cohort.optimistic) h << "<p class=\"warn\">" << html_escape(cohort.optimistic_note) << "</p>\n";
    h << "<p>" << cohort.patients.size() << " patients analysed; " << cohort.exclusions.size()
      << " slides or patients excluded (listed below). Groups by " << html_escape(o.cutoff) << " cutoff";
    for (double c : cohort.cutoffs) h << " " << fmt(c, 4);
    h << "; several slides per patient: " << html_escape(o.aggregate) << ".</p>\n";
    h << "<img src=\"km.png\" alt=\"Kaplan-Meier curves\"> <p><a href=\"km.svg\">km.svg</a></p>\n";
    h << "<h2>Groups</h2><table><tr><th>Group</th><th>n</th><th>Events</th><th>Score range</th><th>Median "
         "survival (95% CI)</th>";
    for (double t : o.times)
      h << "<th>Survival at " << fmt(t, t == std::floor(t) ? 0 : 2) << " (95% CI)</th>";
    h << "</tr>\n";
    for (const auto& gs : st.groups) {
      h << "<tr><td>" << html_escape(gs.name) << "</td><td>" << gs.n << "</td><td>" << gs.events
        << "</td><td>" << (gs.n ? fmt(gs.score_min, 2) + " - " + fmt(gs.score_max, 2) : "") << "</td><td>"
        << (gs.n ? fmt(gs.km.median, 1) + " (" + fmt(gs.km.median_lower, 1) + " - " +
                       fmt(gs.km.median_upper, 1) + ")"
                 : "")
        << "</td>";
      for (const auto& a : gs.at_times) {
        h << "<td>" << fmt(100 * a.surv, 1) << "% (" << fmt(100 * a.lower, 1) << " - "
          << fmt(100 * a.upper, 1) << ")</td>";
      }
      h << "</tr>\n";
    }
    h << "</table>\n<h2>Tests</h2>";
    if (has_log_rank) {
      h << "<p>Log-rank: chi-square " << fmt(st.log_rank.chisq, 3) << " on " << st.log_rank.df << " df, "
        << plot::format_p(st.log_rank.p) << " (p = " << fmt(st.log_rank.p, 5) << ")</p>\n";
    } else {
      h << "<p>Log-rank: " << html_escape(st.log_rank.note) << "</p>\n";
    }
    if (st.has_cox) {
      h << "<table><tr><th>Cox term (Efron ties)</th><th>HR</th><th>95% CI</th><th>Wald p</th></tr>\n";
      for (const auto& t : st.cox.terms) {
        h << "<tr><td>" << html_escape(t.name) << "</td><td>" << fmt(t.hr) << "</td><td>" << fmt(t.hr_lower)
          << " - " << fmt(t.hr_upper) << "</td><td>" << fmt(t.p, 5) << "</td></tr>\n";
      }
      h << "</table>\n";
    } else {
      h << "<p>Cox model: " << html_escape(st.cox_note) << "</p>\n";
    }
    for (const auto& t : st.cox_left_out) {
      h << "<p>Cox model: " << html_escape(t.term) << " left out (" << html_escape(t.reason) << ")</p>\n";
    }
    if (!st.correlations.empty()) {
      h << "<h2>Correlation with " << html_escape(o.score_column)
        << "</h2><table><tr><th>Column</th><th>n</th><th>Pearson r</th><th>p</th><th>Spearman "
           "rho</th><th>p</th></tr>\n";
      for (const auto& c : st.correlations) {
        if (!c.note.empty()) {
          h << "<tr><td>" << html_escape(c.column) << "</td><td>" << c.n
            << "</td><td colspan=\"4\" style=\"text-align:left\">" << html_escape(c.note) << "</td></tr>\n";
          continue;
        }
        h << "<tr><td>" << html_escape(c.column) << "</td><td>" << c.n << "</td><td>" << fmt(c.pearson.r)
          << "</td><td>" << fmt(c.pearson.p, 5) << "</td><td>" << fmt(c.spearman.r) << "</td><td>"
          << fmt(c.spearman.p, 5) << "</td></tr>\n";
      }
      h << "</table>\n";
      for (const auto& f : scatter_files) h << "<img src=\"" << f << "\" alt=\"scatter\">\n";
    }
    h << "<h2>Excluded</h2>";
    if (cohort.exclusions.empty())
      h << "<p>None.</p>";
    else {
      h << "<table><tr><th>Source</th><th>Id</th><th>Line</th><th>Reason</th></tr>\n";
      for (const auto& e : cohort.exclusions) {
        h << "<tr><td>" << html_escape(e.source) << "</td><td>" << html_escape(e.id) << "</td><td>" << e.line
          << "</td><td style=\"text-align:left\">" << html_escape(e.reason) << "</td></tr>\n";
      }
      h << "</table>\n";
    }
    h << "<h2>Parameters</h2><pre>" << html_escape(json_text(j["parameters"], 2)) << "</pre>\n";
    h << "<p>ihcscore " << kVersion << ", " << iso_now()
      << ". Kaplan-Meier with Greenwood log-transformed 95% CI, log-rank and Cox (Efron) as R's survival "
         "package. "
         "Files: <a href=\"cohort.csv\">cohort.csv</a>, <a href=\"groups.csv\">groups.csv</a>, "
         "<a href=\"exclusions.csv\">exclusions.csv</a>, <a "
         "href=\"stats.json\">stats.json</a>.</p>\n</body></html>\n";
    write_file_atomic(out / "report.html", h.str());
  } catch (const std::exception& e) {
    // The files written so far are this run's, the rest an earlier run's: a report mixing two cutoffs would
    // pass for one, so none is left.
    std::error_code ec;
    bool removed = false;
    for (const char* name :
         {"cohort.csv", "groups.csv", "exclusions.csv", "stats.json", "km.svg", "km.png", "report.html"}) {
      removed = written && (fs::remove(out / name, ec) || removed);
    }
    for (fs::directory_iterator it(out, ec), end; written && !ec && it != end; it.increment(ec)) {
      if (scatter_plot_name(it->path().filename().string())) removed = fs::remove(it->path(), ec) || removed;
    }
    std::fprintf(stderr, "ihcscore cohort: %s%s\n", e.what(),
                 removed ? " (the report in this folder was removed: part of it was written)" : "");
    return 1;
  }

  std::printf("%zu patients, %zu excluded (see %s)\n", cohort.patients.size(), cohort.exclusions.size(),
              (out / "exclusions.csv").c_str());
  if (cohort.near_misses > 0) {
    std::fflush(stdout);  // after the counts it explains
    std::fprintf(
        stderr,
        "ihcscore cohort: warning: %d excluded id(s) differ from an id of the other file only in case or "
        "an extension (see %s); ids are matched exactly\n",
        cohort.near_misses, (out / "exclusions.csv").c_str());
  }
  if (!cohort.notes.empty()) std::fflush(stdout);
  for (const auto& n : cohort.notes) std::fprintf(stderr, "ihcscore cohort: warning: %s\n", n.c_str());
  for (const auto& gs : st.groups) {
    std::printf("  %-10s n=%-4d events=%-4d median %s", gs.name.c_str(), gs.n, gs.events,
                gs.n ? fmt(gs.km.median, 1).c_str() : "NA");
    for (const auto& a : gs.at_times) std::printf("  S(%g)=%s", a.time, fmt(a.surv, 3).c_str());
    std::printf("\n");
  }
  if (st.log_rank.note.empty()) {
    std::printf("  log-rank chisq %.3f df %d %s\n", st.log_rank.chisq, st.log_rank.df,
                plot::format_p(st.log_rank.p).c_str());
  } else {
    std::printf("  log-rank %s\n", st.log_rank.note.c_str());
  }
  for (const auto& t : st.cox_left_out) {
    std::printf("  Cox: %s left out of the model (%s)\n", t.term.c_str(), t.reason.c_str());
  }
  if (st.has_cox && !st.cox.terms.empty()) {
    // Every term: tertiles and quartiles have one per group, and covariates their own (only the first was
    // printed; the rest were in stats.json and report.html alone).
    for (const auto& t : st.cox.terms) {
      std::printf("  Cox HR %s %.3f (95%% CI %.3f-%.3f) p %.4g\n", t.name.c_str(), t.hr, t.hr_lower,
                  t.hr_upper, t.p);
    }
  } else {
    std::printf("  Cox: %s\n", st.cox_note.c_str());
  }
  for (const auto& c : st.correlations) {
    if (!c.note.empty()) {
      std::printf("  %s: %s, n %d\n", c.column.c_str(), c.note.c_str(), c.n);
      continue;
    }
    std::printf("  %s: Pearson r %.3f (p %.4g), Spearman rho %.3f (p %.4g), n %d\n", c.column.c_str(),
                c.pearson.r, c.pearson.p, c.spearman.r, c.spearman.p, c.n);
  }
  if (cohort.optimistic) std::printf("  %s\n", cohort.optimistic_note.c_str());
  std::printf("Report: %s\n", (out / "report.html").c_str());
  return 0;
}

}  // namespace ihc::cli
