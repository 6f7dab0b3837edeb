#pragma once
// Cohort analysis: joins slide scores (summary.csv) to patients (a clinical CSV), aggregates several slides
// per patient, splits patients into score groups and runs the survival statistics of models/survival.hpp.
// Nothing is dropped silently: every slide or patient left out is listed with its reason.
#include <filesystem>
#include <limits>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "models/csv_table.hpp"
#include "models/survival.hpp"

namespace ihc {

// what() names the file and, where there is one, the line.
class CohortError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct CohortOptions {
  std::string id_column = "patient_id";
  std::string image_column = "Image";  // in the scores file and the slide map
  std::string time_column = "os_months";
  std::string event_column;  // one of event_column / censored_column
  std::string censored_column;
  // Codes in the event (or censored) column; numbers compare as numbers ("1.0" is "1").
  std::string event_value = "1";     // with event_column: value meaning "event observed"
  std::string censored_value = "0";  // with event_column: value meaning "censored"
  std::string score_column = "IxP score";
  std::string cutoff = "median";        // median | tertiles | quartiles | <number> | optimal
  bool allow_optimal = false;           // "optimal" is refused unless this is set
  std::string aggregate = "median";     // median | mean | max
  std::vector<std::string> correlate;   // clinical columns correlated with the score
  std::vector<std::string> covariates;  // extra numeric clinical covariates for the Cox model
  std::vector<double> times;            // survival reported at these times (time_column's unit)
  double conf_level = 0.95;
  // Slides whose Status says they do not look like H-DAB ("ok; looks like H&E, not H-DAB ...", fluorescence)
  // are left out (their DAB scores measure another stain) unless this is set.
  bool keep_other_stains = false;
  // regions.csv (one row per image and region): the region analysed, by its Region name; required there.
  std::string region;
};

struct Exclusion {
  std::string source;  // "scores", "clinical", "slide map"
  std::string id;      // slide or patient id
  int line = 0;        // line in the source file, 0 when not from a line
  std::string reason;
};

struct Patient {
  std::string id;
  double score = std::numeric_limits<double>::quiet_NaN();
  int group = -1;
  double time = 0;
  int event = 0;
  std::vector<std::string> slides;
  std::vector<double> slide_scores;
  std::map<std::string, double> values;  // correlate and covariate columns (NaN when empty)
};

struct Cohort {
  std::vector<Patient> patients;  // analysed patients, clinical file order
  std::vector<Exclusion> exclusions;
  std::vector<std::string> group_names;  // "Low", "High" or "T1 (lowest)", ...
  std::vector<double> cutoffs;           // group g holds cutoffs[g-1] <= score < cutoffs[g]
  std::string cutoff_rule;               // what was asked, e.g. "median", "quartiles", "12.5"
  bool optimistic = false;               // true for a data-driven optimal cutpoint
  std::string optimistic_note;
  // Exclusions whose id is another file's id but for case or an extension ("P1" / "p1", "p1.jpg"): ids are
  // matched exactly, and their reasons name the near id.
  int near_misses = 0;
  // What the analysis rests on that a reader should know (printed as warnings): slides of a handful of cells,
  // a cutoff on the 0-3 scale given for a 0-300 score.
  std::vector<std::string> notes;
};

// Throws CohortError when the event and censored codes are the same (as text or as numbers: "1" and
// "1.0"): every patient would read as one of them.
void validate_event_coding(const CohortOptions& options);

// Validates the clinical file strictly (missing columns, non-numeric or negative times, unknown event values,
// duplicate ids are refused with every offending row named) and the scores file (one row per image), joins,
// aggregates and groups. A score that is undefined (empty although Status is ok) for more than half of the
// joined slides is refused with the reason, rather than analysing a biased few.
Cohort build_cohort(const CsvTable& scores, const CsvTable& clinical, const CsvTable* slide_map,
                    const CohortOptions& options);

struct GroupSurvival {
  std::string name;
  int n = 0;
  int events = 0;
  double score_min = 0;
  double score_max = 0;
  stats::KaplanMeier km;
  std::vector<stats::SurvivalAt> at_times;
};

struct CorrelationResult {
  std::string column;
  int n = 0;
  std::string note;  // "not computable: ..." when r and p are NaN
  stats::Correlation pearson;
  stats::Correlation spearman;
};

// A covariate left out of the Cox model, e.g. one without variation (R's coxph gives it NA).
struct LeftOutTerm {
  std::string term;
  std::string reason;
};

struct CohortStats {
  std::vector<GroupSurvival> groups;
  stats::LogRank log_rank;  // log_rank.note says why when it is not computable
  bool has_cox = false;
  stats::CoxFit cox;     // group indicators (vs the lowest group) + covariates
  std::string cox_note;  // why there is no Cox fit, when there is none
  std::vector<LeftOutTerm> cox_left_out;
  std::vector<CorrelationResult> correlations;
};

CohortStats analyse_cohort(const Cohort& cohort, const CohortOptions& options);

// R's default quantile (type 7) of sorted values.
double quantile_type7(std::vector<double> values, double p);

}  // namespace ihc
