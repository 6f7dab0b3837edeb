// ihcview: the side panels, the file browser and the status bar.
#include "gui/viewer.hpp"

#include <algorithm>
#include <cstdio>

#include "imaging/overlay.hpp"
#include "imaging/pipeline.hpp"
#include "models/atomic_file.hpp"
#include "models/presets.hpp"

namespace ihc::gui {

namespace {

// A score as the Summary panel and the status bar show it: "-" when undefined (no cells, no grade).
std::string number_or_dash(double v, int digits) {
  if (std::isnan(v)) return "-";
  char b[32];
  std::snprintf(b, sizeof b, "%.*f", digits, v);
  return b;
}

// else as it is.
std::string shown_path(const std::filesystem::path& p) {
  std::error_code ec;
  const std::string rel = p.lexically_relative(std::filesystem::current_path(ec)).string();
  return rel.empty() || rel.rfind("../..", 0) == 0 ? p.string() : rel;
}

// `--preset P --params FILE` (FILE may be empty), checked as the batch checks them before scoring; throws

// ---- widths from the text they show (ImGui::CalcTextSize plus the style's padding), so that no label, value
// or choice is cut at a frame or at the panel's edge, whatever the panel's width and whether it has a
// scrollbar.

// A label's text as ImGui shows it: up to its "##".
std::string shown_label(const std::string& label) { return label.substr(0, label.find("##")); }

float text_width(const std::string& text) { return ImGui::CalcTextSize(text.c_str()).x; }

// What a button needs to show its whole label (the width ImGui::Button gives itself).
float button_width(const char* label) {
  return ImGui::CalcTextSize(label, nullptr, true).x + 2 * ImGui::GetStyle().FramePadding.x;
}

// What a combo needs to show the widest of its choices whole: the text, the frame padding and the arrow
// button.
float combo_width(const std::vector<std::string>& choices) {
  float widest = 0;
  for (const auto& c : choices) widest = std::max(widest, text_width(c));
  return widest + 2 * ImGui::GetStyle().FramePadding.x + ImGui::GetFrameHeight();
}

// Gives the next widget `width` and places its label: at its right, as ImGui draws labels, when both fit in
// the panel; else on its own line above, the widget below it. Returns the label to give the widget (its "##"
// part alone when the text went above).
std::string place_label(const std::string& label, float width) {
  const std::string text = shown_label(label);
  const float avail = ImGui::GetContentRegionAvail().x;
  if (width + ImGui::GetStyle().ItemInnerSpacing.x + text_width(text) <= avail) {
    ImGui::SetNextItemWidth(width);
    return label;
  }
  ImGui::TextWrapped("%s", text.c_str());
  ImGui::SetNextItemWidth(std::min(width, avail));
  return "##" + (text.size() == label.size() ? label : label.substr(text.size() + 2));
}

// A slider's edit: `changed` this frame, `released` when the user let go after changing it (one undo step).
struct SliderEdit {
  bool changed = false;
  bool released = false;
  bool active = false;  // being dragged (or typed into)
};

// After a slider: its value right-aligned beside it, then its label, so that frame and value take the width
// the panel gives a widget (`width`, from `x` where the slider started) and the label is where the others
// have theirs.
void value_and_label(const char* label, const std::string& value, float x, float width) {
  ImGui::SameLine(x + width - text_width(value));
  ImGui::TextUnformatted(value.c_str());
  ImGui::SameLine(x + width + ImGui::GetStyle().ItemInnerSpacing.x);
  ImGui::TextUnformatted(shown_label(label).c_str());
}

// The frame's width once the value beside it has the room of the widest value it can show.
float slider_frame_width(float width, const std::initializer_list<std::string>& values) {
  float widest = 0;
  for (const auto& v : values) widest = std::max(widest, text_width(v));
  return std::max(ImGui::GetFrameHeight(), width - widest - ImGui::GetStyle().ItemInnerSpacing.x);
}

// Sliders with their value beside the frame, not in it: Dear ImGui centres a slider's value in the frame,
// where the grab passes over the digits. As the "slider enum" of ImGui's demo, the format has no '%', so the
// frame shows no number; the value is rounded to the `digits` it is shown with, as ImGui rounds to its
// format's. Ctrl+click still types a value. The slider's id is "##label": not the id of the Review panel's
// class buttons (the "1+" slider and the "1+" button had one id, and Ctrl+click on the slider aborted).
SliderEdit value_slider(const char* label, float* v, float lo, float hi, int digits) {
  auto shown = [digits](float f) {
    char b[32];
    std::snprintf(b, sizeof b, "%.*f", digits, f);
    return std::string(b);
  };
  const float x = ImGui::GetCursorPosX(), width = ImGui::CalcItemWidth();
  ImGui::SetNextItemWidth(slider_frame_width(width, {shown(lo), shown(hi), shown(*v)}));
  const float before = *v;
  SliderEdit e;
  if (ImGui::SliderFloat(("##" + std::string(label)).c_str(), v, lo, hi, "")) {
    const double scale = std::pow(10.0, digits);
    const auto rounded = static_cast<float>(std::round(*v * scale) / scale);
    *v = std::max(std::min(lo, hi), std::min(rounded, std::max(lo, hi)));
    e.changed = *v != before;  // held still, the slider gives the unrounded value again
  }
  e.released = ImGui::IsItemDeactivatedAfterEdit();
  e.active = ImGui::IsItemActive();
  value_and_label(label, shown(*v), x, width);
  return e;
}

SliderEdit value_slider(const char* label, int* v, int lo, int hi) {
  const float x = ImGui::GetCursorPosX(), width = ImGui::CalcItemWidth();
  ImGui::SetNextItemWidth(
      slider_frame_width(width, {std::to_string(lo), std::to_string(hi), std::to_string(*v)}));
  SliderEdit e;
  e.changed = ImGui::SliderInt(("##" + std::string(label)).c_str(), v, lo, hi, "");
  e.released = ImGui::IsItemDeactivatedAfterEdit();
  value_and_label(label, std::to_string(*v), x, width);
  return e;
}

}  // namespace

void Viewer::panel_slide() {
  if (!panel_header("Slide", true)) return;
  if (slide_) {
    const SlideInfo& i = slide_->info();
    ImGui::TextWrapped("%s", slide_path_.filename().string().c_str());
    ImGui::Text("%d x %d px, %d level(s), %s", i.level_sizes[0].width, i.level_sizes[0].height,
                i.level_count(), i.format.c_str());
    if (pixel_size_.known()) {
      ImGui::Text("%.4f um/px (%s)", pixel_size_.x, pixel_size_.source.c_str());
    } else {
      ImGui::TextColored(ImVec4(1, 0.6f, 0, 1), "No pixel size: lengths in px");
    }
    const std::string& type =
        results_record_.image_type.empty() ? slide_image_type_ : results_record_.image_type;
    const ImageTypeWarning w = image_type_warning(image_type_from_name(type));
    if (!w.looks_like.empty()) {
      std::string head = w.looks_like + ":";
      head[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(head[0])));
      ImGui::TextColored(ImVec4(1, 0.6f, 0, 1), "%s", head.c_str());
      ImGui::TextWrapped("%s", w.consequence.c_str());
    } else if (!type.empty()) {
      ImGui::Text("%s", type.c_str());
    }
    if (!results_dir_.empty() && results_.table.size() > 0) {
      // Which results these are matters once they are found for the slide (find_own_results).
      ImGui::TextWrapped("Results: %s", shown_path(results_dir_).c_str());
      if (ImGui::IsItemHovered()) ImGui::SetTooltip("%s", results_dir_.string().c_str());
      if (!batch_rois_.file.empty()) {
        if (batch_rois_.error.empty()) {
          ImGui::TextWrapped("Batch regions (black): %zu from %s", batch_rois_.annotations.size(),
                             shown_path(batch_rois_.file).c_str());
        } else {
          ImGui::TextColored(ImVec4(1, 0.6f, 0, 1), "Batch regions not shown:");
          ImGui::TextWrapped("%s", batch_rois_.error.c_str());
        }
      }
      if (results_rescored_) {
        // The batch's tables still hold the scores it wrote: say where the current ones are reported.
        const std::string root = shown_path(results_root(results_dir_));
        ImGui::PushStyleColor(ImGuiCol_Text, ImVec4(1, 0.6f, 0, 1));
        ImGui::TextWrapped(
            "Re-scored since the batch: %s/summary.csv still has the batch's row; "
            "ihcscore reviewed %s reports these scores",
            root.c_str(), root.c_str());
        ImGui::PopStyleColor();
      }
    }
  } else {
    ImGui::TextWrapped("Open a slide or image (Ctrl+O), drop one on the window, or pick a recent file:");
  }
  if (ImGui::Button("Open slide...")) browse(BrowseFor::Slide, slide_path_);
  if (ImGui::IsItemHovered()) ImGui::SetTooltip("Ctrl+O: a slide or image (a dropped file opens too)");
  ImGui::SameLine();
  if (ImGui::Button("Open results...")) {
    browse(BrowseFor::Results, results_dir_.empty() ? slide_path_.parent_path() : results_dir_.parent_path());
  }
  if (ImGui::IsItemHovered())
    ImGui::SetTooltip("A folder ihcscore score wrote: OUT/slides/<id> (opens its slide when it is another)");
  if (!recent_.empty() && ImGui::TreeNode("Recent files")) {
    for (const auto& r : recent_) {
      if (ImGui::Selectable(std::filesystem::path(r).filename().string().c_str())) dropped_ = r;
      if (ImGui::IsItemHovered()) ImGui::SetTooltip("%s", r.c_str());
    }
    ImGui::TreePop();
  }
}

void Viewer::panel_display() {
  if (!panel_header("Display", false)) return;
  int ch = static_cast<int>(channel_);
  if (ImGui::Combo("Channel", &ch, kChannelNames, 4)) {
    channel_ = static_cast<Channel>(ch);
    ++display_version_;
  }
  if (value_slider("Brightness", &brightness_, -0.5f, 0.5f, 3).changed) ++display_version_;
  if (value_slider("Contrast", &contrast_, 0.2f, 3.0f, 3).changed) ++display_version_;
  for (int s = 0; s < 2; ++s) {
    for (int k = 0; k < 3; ++k) stain_edit_[s][k] = static_cast<float>(stains_.stains[s].rgb[k]);
    if (ImGui::InputFloat3(stains_.stains[s].name.c_str(), stain_edit_[s], "%.4f",
                           ImGuiInputTextFlags_EnterReturnsTrue)) {
      rebuild_stains();
    }
  }
  if (estimating_.valid()) {
    if (estimating_.wait_for(std::chrono::seconds(0)) == std::future_status::ready) {
      try {
        const StainEstimate e = estimating_.get();
        stains_ = e.matrix;
        stain_message_ = "Estimated from view";
        ++display_version_;
      } catch (const std::exception& e) {
        stain_message_ = e.what();
      }
    } else {
      ImGui::Text("Estimating...");
    }
  } else if (slide_ && ImGui::Button("Estimate from view")) {
    const int level = geometry_.source(level_for_downsample(geometry_, view_.downsample));
    const cv::Rect2d vis =
        view_.visible_slide_rect() & cv::Rect2d(0, 0, limits_.slide_size.width, limits_.slide_size.height);
    const double ds = slide_->info().downsamples[level];
    const int w = std::min(2048, static_cast<int>(vis.width / ds)),
              h = std::min(2048, static_cast<int>(vis.height / ds));
    Slide* s = slide_.get();
    const StainMatrix ref = stains_;
    estimating_ = std::async(std::launch::async, [s, vis, level, w, h, ref] {
      const cv::Mat rgb =
          s->read_region(static_cast<std::int64_t>(vis.x), static_cast<std::int64_t>(vis.y), level, w, h);
      return estimate_stains(rgb, ref);
    });
  }
  if (!stain_message_.empty()) ImGui::TextWrapped("%s", stain_message_.c_str());
}

void Viewer::panel_cells() {
  if (!panel_header("Cells", true)) return;
  if (results_.table.size() == 0) {
    ImGui::TextWrapped("No cells yet: run scoring or load a result folder (ihcview SLIDE --results DIR).");
  } else {
    ImGui::Text("%zu cells", results_.table.size());
  }
  ImGui::Checkbox("Show (H)", &show_cells_);
  int d = static_cast<int>(cell_display_);
  if (ImGui::Combo("Draw (M)", &d, kDisplayNames, kDisplayCount)) cell_display_ = static_cast<CellDisplay>(d);
  value_slider("Opacity", &opacity_, 0.0f, 1.0f, 3);
  if (job_running_) {
    const int total = job_total_.load();
    ImGui::ProgressBar(
        total > 0 ? float(job_done_.load()) / float(total) : 0.0f, ImVec2(-1, 0),
        total > 0 ? (std::to_string(job_done_.load()) + " / " + std::to_string(total) + " tiles").c_str()
                  : "starting...");
    if (ImGui::Button("Cancel")) job_cancel_ = true;
  } else if (slide_) {
    if (button("Score whole slide")) ask_scoring(false);
    ImGui::SameLine();
    if (button("Score drawn regions")) ask_scoring(true);
  }
}

void Viewer::panel_thresholds() {
  if (!panel_header("Thresholds", true)) return;
  GradingParams& g = live_thresholds_;
  bool changed = false, committed = false;
  // The compartments this table measures: "<Compartment>: DAB OD mean" columns.
  std::vector<std::string> measures;
  for (const auto& n : results_.table.names) {
    if (n.find("DAB") != std::string::npos) measures.push_back(n);
  }
  std::vector<std::string> shown_measures = measures;
  shown_measures.push_back(g.measurement);
  const std::string measurement_label =
      place_label("Measurement", std::max(ImGui::CalcItemWidth(), combo_width(shown_measures)));
  if (ImGui::BeginCombo(measurement_label.c_str(), g.measurement.c_str())) {
    for (const auto& m : measures) {
      if (ImGui::Selectable(m.c_str(), m == g.measurement)) {
        g.measurement = m;
        changed = committed = true;
      }
    }
    ImGui::EndCombo();
  }
  bool single = g.mode == ThresholdMode::Single;
  if (ImGui::Checkbox("Single threshold", &single)) {
    g.mode = single ? ThresholdMode::Single : ThresholdMode::Three;
    changed = committed = true;
  }
  // Every threshold slider has the histogram's axis as its range, so a handle is where its line is drawn
  // (each had the range its neighbours left it: 0.2 sat mid-slider for 1+, a fifth of the way along the
  // axis). A handle stops at its neighbours: the grades stay in order.
  auto axis = histogram_range({}, grading_thresholds(g));
  if (results_.table.size() > 0 && histogram_.measurement == g.measurement &&
      histogram_.histogram.hi > histogram_.histogram.lo)
    axis = {histogram_.histogram.lo, histogram_.histogram.hi};
  bool dragging = false;
  auto slider = [&](const char* label, double* v, double lo, double hi) {
    float f = static_cast<float>(*v);
    const SliderEdit e =
        value_slider(label, &f, static_cast<float>(axis.first), static_cast<float>(axis.second), 3);
    if (e.changed) {
      *v = std::max(lo, std::min(static_cast<double>(f), hi));
      changed = true;
    }
    committed |= e.released;
    dragging |= e.active;
  };
  const double lowest = axis.first, highest = axis.second;
  if (single) {
    slider("Positive", &g.threshold_positive, lowest, highest);
  } else {
    slider("1+", &g.threshold_1plus, lowest, g.threshold_2plus - 0.001);
    slider("2+", &g.threshold_2plus, g.threshold_1plus + 0.001, g.threshold_3plus - 0.001);
    slider("3+", &g.threshold_3plus, g.threshold_2plus + 0.001, highest);
  }
  // The axis stays while a handle is dragged (it widens for high thresholds): the range must not move under
  // the pointer.
  const bool hold_axis = dragging || threshold_drag_;
  threshold_drag_ = dragging;
  if (changed) {
    nav_order_.clear();
    refresh_cells(true);  // every cell regraded at once, no re-detection
  }
  if (committed) editor_.set_thresholds(g);  // one undo step per slider release
  // Histogram of the scoring measurement with the thresholds drawn in their class colours.
  if (results_.table.size() > 0) {
    if (histogram_.version != cells_version_ || histogram_.measurement != g.measurement) {
      // The batch's histogram.png range, so every threshold line is inside the box.
      std::vector<float> values;
      if (const int j = results_.table.column(g.measurement); j >= 0) {
        for (std::size_t i = 0; i < results_.table.size(); ++i) {
          if (state_.counted[i]) values.push_back(results_.table.columns[j][i]);
        }
      }
      auto [lo, hi] = histogram_range(std::move(values), grading_thresholds(g));
      if (hold_axis && histogram_.measurement == g.measurement) std::tie(lo, hi) = axis;
      histogram_ = {cells_version_, g.measurement,
                    measurement_histogram(results_.table, g.measurement, state_, 60, lo, hi)};
    }
    const Histogram& h = histogram_.histogram;
    ImDrawList* dl = ImGui::GetWindowDrawList();
    const ImVec2 p = ImGui::GetCursorScreenPos();
    const float w = ImGui::GetContentRegionAvail().x, ht = 80;
    dl->AddRectFilled(p, ImVec2(p.x + w, p.y + ht), IM_COL32(30, 30, 30, 255));
    const float bw = w / float(h.counts.size());
    for (std::size_t b = 0; b < h.counts.size(); ++b) {
      const float bh = h.max_count > 0 ? ht * float(h.counts[b]) / float(h.max_count) : 0;
      const GradingParams& gg = g;
      const CellClass cls = grade(static_cast<float>(h.lo + (b + 0.5) * (h.hi - h.lo) / h.counts.size()), gg);
      dl->AddRectFilled(ImVec2(p.x + b * bw, p.y + ht - bh), ImVec2(p.x + (b + 1) * bw - 1, p.y + ht),
                        class_colour(cls));
    }
    auto line = [&](double t, CellClass c) {
      const float x = p.x + float((t - h.lo) / (h.hi - h.lo)) * w;
      dl->AddLine(ImVec2(x, p.y), ImVec2(x, p.y + ht), class_colour(c), 2);
    };
    if (single) {
      line(g.threshold_positive, CellClass::Positive);
    } else {
      line(g.threshold_1plus, CellClass::OnePlus);
      line(g.threshold_2plus, CellClass::TwoPlus);
      line(g.threshold_3plus, CellClass::ThreePlus);
    }
    ImGui::Dummy(ImVec2(w, ht));
    // The axis's ends, as OD (it widens past 1.2 for high thresholds or a strong stain).
    char hi_text[32];
    std::snprintf(hi_text, sizeof hi_text, "%.2f", h.hi);
    ImGui::TextDisabled("%.2f", h.lo);
    ImGui::SameLine(ImGui::GetCursorStartPos().x + w - ImGui::CalcTextSize(hi_text).x);
    ImGui::TextDisabled("%s", hi_text);
  }
}

void Viewer::panel_review() {
  if (!panel_header("Review", true)) return;
  if (!save_error_.empty()) {
    // Whole and in sight while saves fail: the status line has room for a shortened one only.
    ImGui::PushStyleColor(ImGuiCol_Text, ImVec4(1.0f, 0.35f, 0.3f, 1.0f));
    ImGui::TextWrapped("Not saved: %s", save_error_.c_str());
    ImGui::PopStyleColor();
  }
  if (review_in_conflict()) {
    // For the rest of the session, whole: the status line has it only until the next message.
    ImGui::PushStyleColor(ImGuiCol_Text, ImVec4(1.0f, 0.35f, 0.3f, 1.0f));
    ImGui::TextWrapped("Not in review.json: %s", conflict_note_.c_str());
    ImGui::PopStyleColor();
  }
  ImGui::TextWrapped("Selected: %zu  (click, Shift+click, S-drag; Esc clears)", selection_.size());
  // The classes the grading has: Negative and Positive with one threshold, else Negative to 3+.
  const bool single = live_thresholds_.mode == ThresholdMode::Single;
  const std::vector<CellClass> classes =
      single ? std::vector<CellClass>{CellClass::Negative, CellClass::Positive}
             : std::vector<CellClass>{CellClass::Negative, CellClass::OnePlus, CellClass::TwoPlus,
                                      CellClass::ThreePlus};
  // "Set class", as QuPath's: the buttons act on the selection, as the keys do. They selected every cell of
  // their class before (probe 7): under "Selected: 1" they read as a correction, and the next key
  // reclassified all of them.
  ImGui::TextUnformatted("Set class of the selection (keys 0-3):");
  for (std::size_t c = 0; c < classes.size(); ++c) {
    if (c > 0) ImGui::SameLine();
    const std::string name(class_name(classes[c]));
    // Buttons with their frame padding all round: a SmallButton has none above and below its text, and cut
    // the descender of the g in "Negative" (it read "Neqative").
    if (button((name + "##set").c_str()) && results_.table.size() > 0) {
      if (selection_.empty()) {
        message_ = "No cell selected: click a cell (Shift+click adds, S-drag a box), then set its class";
      } else {
        Action a{Action::Type::SetClass};
        a.cls = classes[c];
        apply(a);
      }
    }
    if (ImGui::IsItemHovered())
      ImGui::SetTooltip("Sets the %zu selected cell(s) to %s; Ctrl+Z undoes", selection_.size(),
                        name.c_str());
  }
  // Selecting a whole class is its own, labelled control: what a class key or button does next then applies
  // to every cell of it, which the status line says.
  select_all_class_ = std::clamp(select_all_class_, 0, static_cast<int>(classes.size()) - 1);
  std::vector<std::string> class_names;
  class_names.reserve(classes.size());
  for (CellClass c : classes) class_names.emplace_back(class_name(c));
  const std::string select_all = "Select all cells of class";
  ImGui::SetNextItemWidth(combo_width(class_names));
  if (ImGui::BeginCombo("##select_all_class", class_names[select_all_class_].c_str())) {
    for (std::size_t c = 0; c < classes.size(); ++c) {
      if (ImGui::Selectable(class_names[c].c_str(), static_cast<int>(c) == select_all_class_))
        select_all_class_ = static_cast<int>(c);
    }
    ImGui::EndCombo();
  }
  ImGui::SameLine();
  if (button(select_all.c_str()) && results_.table.size() > 0) {
    select_cells(select_by_class(state_, classes[select_all_class_]), "of " + class_names[select_all_class_]);
  }
  int f = static_cast<int>(nav_filter_);
  if (ImGui::Combo("E/Q filter", &f, kFilterNames, 6)) {
    nav_filter_ = static_cast<NavFilter>(f);
    nav_order_.clear();
  }
  if (value_slider("Borderline +/-", &borderline_width_, 0.005f, 0.3f, 3).changed) nav_order_.clear();
  if (button("Select borderline") && results_.table.size() > 0) {
    nav_filter_ = NavFilter::Borderline;
    nav_order_.clear();
    navigate(0);
    select_cells(nav_order_, "near a threshold");
  }
  ImGui::TextWrapped("Tool: %s (R rectangle, P polygon, B brush)",
                     std::string(tool_name(input_.tool())).c_str());
  int kind = static_cast<int>(input_.region_kind());
  ImGui::RadioButton("Include", &kind, 0);
  ImGui::SameLine();
  ImGui::RadioButton("Exclude", &kind, 1);
  input_.set_region_kind(static_cast<RegionKind>(kind));
  for (const auto& r : editor_.review().regions) {
    ImGui::PushID(static_cast<int>(r.id));
    const std::string label = std::string(r.kind == RegionKind::Include ? "Include " : "Exclude ") +
                              std::to_string(r.id) + (r.label.empty() ? "" : " " + r.label);
    // The row takes the line but the room of its "remove" button.
    const float row_width =
        ImGui::GetContentRegionAvail().x - button_width("remove") - ImGui::GetStyle().ItemSpacing.x;
    if (ImGui::Selectable(label.c_str(), summary_region_ == r.id, 0, ImVec2(row_width, 0))) {
      summary_region_ = r.id;
      refresh_cells(false);
    }
    ImGui::SameLine();
    if (ImGui::SmallButton("remove")) {
      editor_.remove_region(r.id);
      if (summary_region_ == r.id) summary_region_ = -1;
      refresh_cells(false);
      ImGui::PopID();
      break;
    }
    ImGui::PopID();
  }
  ImGui::Text("Undo: %zu step(s)  Log: %zu entries", editor_.undo_depth(), editor_.review().log.size());
  if (ImGui::Button("Undo")) apply({Action::Type::Undo});
  ImGui::SameLine();
  if (ImGui::Button("Redo")) apply({Action::Type::Redo});
}

void Viewer::panel_summary() {
  if (!panel_header("Summary", true)) return;
  auto table = [&](const char* title, const Summary& s, double area_mm2) {
    if (!ImGui::BeginTable(title, 2, ImGuiTableFlags_Borders)) return;
    auto row = [](const char* k, const std::string& v) {
      ImGui::TableNextRow();
      ImGui::TableSetColumnIndex(0);
      ImGui::TextUnformatted(k);
      ImGui::TableSetColumnIndex(1);
      ImGui::TextUnformatted(v.c_str());
    };
    const auto& num = number_or_dash;
    const Scores& f = s.final;
    // The names of summary.csv and QuPath, so the panel and the tables read alike (viewer probe 17).
    row("Num Detections", std::to_string(f.detections));
    row("Num Negative", std::to_string(f.counts.negative));
    // Single-threshold grading (ki67): Positive, no 1+/2+/3+ rows (they read 0, as if graded), as the tables.
    if (live_thresholds_.mode == ThresholdMode::Three) {
      row("Num 1+", std::to_string(f.counts.one_plus));
      row("Num 2+", std::to_string(f.counts.two_plus));
      row("Num 3+", std::to_string(f.counts.three_plus));
      row("Num Positive", std::to_string(f.positive));
    } else {
      row("Num Positive", std::to_string(f.counts.positive_ungraded));
    }
    row("Positive %", num(f.positive_percent, 2));
    if (!std::isnan(area_mm2)) {
      ScoreRow r;
      r.num_positive = f.positive;
      r.tissue_area_mm2 = area_mm2;
      row("Num Positive per mm^2", num(positive_per_mm2(r), 1));
    }
    row("H-score", num(f.h_score, 2));
    row("Intensity score",
        s.overridden ? num(f.intensity_score, 0) + " (auto " + num(s.automatic.intensity_score, 0) + ")"
                     : num(f.intensity_score, 0));
    row("IxP score", num(f.ixp, 2));
    row("Allred proportion", num(f.allred_proportion, 0));
    row("Allred score", num(f.allred, 0));
    row("IRS", num(f.irs, 0));
    if (!f.group.empty()) row("Group", f.group);
    ImGui::EndTable();
  };
  if (results_.table.size() == 0) return;
  ImGui::Text("Slide (in scope)");
  table("slide", slide_summary_, scope_area_mm2());
  if (summary_region_ >= 0) {
    if (summary_region_excludes_) {
      ImGui::Text("Exclude %lld: cells left out", static_cast<long long>(summary_region_));
    } else {
      ImGui::Text("Region %lld", static_cast<long long>(summary_region_));
    }
    table("region", region_summary_, std::nan(""));
  }
  const IntensityOverride& o = editor_.review().intensity_override;
  if (!override_score_moved_) {
    const double automatic = slide_summary_.automatic.intensity_score;
    override_score_ = o.active                ? o.score
                      : std::isnan(automatic) ? 0
                                              : static_cast<int>(std::lround(automatic));
  }
  if (value_slider("Intensity override", &override_score_, 0, 3).changed) override_score_moved_ = true;
  if (scripted_click("Reason")) ImGui::SetKeyboardFocusHere();
  ImGui::InputText("Reason", override_reason_, sizeof override_reason_);
  if (button(o.active ? "Update override" : "Override intensity")) {
    if (std::string(override_reason_).empty()) {
      message_ = "An intensity override needs a reason";
    } else {
      editor_.set_intensity_override({true, override_score_, override_reason_});
      override_score_moved_ = false;
      refresh_cells(false);
    }
  }
  if (o.active) {
    ImGui::SameLine();
    if (button("Clear override")) {
      editor_.set_intensity_override({});
      override_score_moved_ = false;
      refresh_cells(false);
    }
  }
  if (button("Save review")) save_now();
  if (ImGui::IsItemHovered()) ImGui::SetTooltip("Ctrl+S: review.json and the reviewed exports");
  ImGui::SameLine();
  if (ImGui::Button("Screenshot")) {
    pending_screenshot_ = ((results_dir_.empty() ? std::filesystem::path(".") : results_dir_) /
                           ("screenshot-" + std::to_string(std::time(nullptr)) + ".png"))
                              .string();
  }
}

// A preset is a whole parameter file: its grading (measurement, thresholds) goes to the Thresholds panel too.
void Viewer::reset_form(const std::string& preset) {
  form_.preset = preset.empty() ? default_preset_name() : preset;
  apply_params(default_params(form_.preset), "preset " + form_.preset);
}

void Viewer::apply_params(const ParamSet& params, const std::string& source) {
  const GradingParams g = grading_params_from(params);
  form_.values = params;
  form_.source = source;
  form_.error.clear();
  if (same_grading(g, live_thresholds_)) return;
  live_thresholds_ = g;
  editor_.set_thresholds(g);  // one undo step, as a slider release
  nav_order_.clear();
  refresh_cells(true);
}

ParamSet Viewer::current_params() const {
  ParamSet params = form_.values;
  set_grading_params(params, live_thresholds_, "viewer");
  return params;
}

// Loads as `--preset P --params FILE` would (P: the form's last preset), all or nothing: a bad file leaves
// the form as it was and shows the error (file, line, key).
bool Viewer::load_params(const std::filesystem::path& path) {
  try {
    apply_params(params_over_preset(form_.preset, path),
                 "preset " + form_.preset + " + " + path.filename().string());
    message_ = "Loaded parameters from " + path.string();
    return true;
  } catch (const std::exception& e) {
    form_.error = e.what();
    message_ = form_.error;
    return false;
  }
}

// The file `ihcscore score --params` reads: the form and the live grading, with units and help per key.
bool Viewer::save_params(const std::filesystem::path& path) {
  try {
    std::string text = "# saved by ihcview";
    if (!slide_path_.empty()) text += " for " + slide_path_.filename().string();
    text += " (form from " + form_.source + ")\n" + current_params().to_text();
    write_file_atomic(path, text);
    form_.error.clear();
    message_ = "Saved parameters to " + path.string();
    return true;
  } catch (const std::exception& e) {
    form_.error = e.what();
    return false;
  }
}

bool Viewer::set_form_value(const std::string& key, const std::string& value) {
  const bool known =
      std::any_of(form_.specs.begin(), form_.specs.end(), [&](const ParamSpec& s) { return s.key == key; });
  try {
    if (!known) throw ParamError("unknown detection parameter '" + key + "'");
    // The whole set with the live grading, as score checks it (a minimum area above the maximum): what the
    // batch would refuse is refused here, not applied.
    ParamSet whole = current_params();
    whole.set(key, value, "viewer");
    check_scoring_params(whole);
    form_.values.set(key, value, "viewer");
    form_.error.clear();
    return true;
  } catch (const std::exception& e) {
    form_.error = e.what();
    message_ = form_.error;  // the status bar says why, too
    return false;
  }
}

bool Viewer::scripted_click(const char* label) {
  // Once: the command waits a frame more for a text field, where the button would be clicked again.
  if (script_widget_.hit || script_widget_.label.empty() || shown_label(label) != script_widget_.label)
    return false;
  script_widget_.hit = true;
  return true;
}

bool Viewer::button(const char* label) {
  const bool scripted = scripted_click(label);
  return ImGui::Button(label) || scripted;
}

// A side-panel header; a script's `panel NAME open|close` sets it as a click on it would.
bool Viewer::panel_header(const char* name, bool default_open) {
  if (auto it = panel_requests_.find(name); it != panel_requests_.end()) {
    ImGui::SetNextItemOpen(it->second, ImGuiCond_Always);
    panel_requests_.erase(it);
  }
  return ImGui::CollapsingHeader(name, default_open ? ImGuiTreeNodeFlags_DefaultOpen : 0);
}

void Viewer::panel_detection() {
  if (!panel_header("Detection", false)) return;
  ImGui::TextWrapped("Parameters for Score whole slide / drawn regions (from %s).", form_.source.c_str());
  const std::vector<std::string> presets = preset_names();
  for (const auto& name : presets) {
    if (ImGui::Button(("Preset " + name).c_str())) reset_form(name);
    ImGui::SameLine();
  }
  ImGui::NewLine();
  // The file last loaded or saved (typed paths work too); Load... and Save... browse from it.
  char path[1024];
  std::snprintf(path, sizeof(path), "%s", form_.path.c_str());
  // The field takes the line but the room of its two buttons.
  ImGui::SetNextItemWidth(ImGui::GetContentRegionAvail().x - button_width("Load...") -
                          button_width("Save...") - 2 * ImGui::GetStyle().ItemSpacing.x);
  if (ImGui::InputText("##params_path", path, sizeof(path))) form_.path = path;
  if (ImGui::IsItemHovered()) ImGui::SetTooltip("Parameter file (key = value), as ihcscore --params reads");
  ImGui::SameLine();
  if (ImGui::Button("Load...")) browse(BrowseFor::LoadParams, form_.path);
  ImGui::SameLine();
  if (ImGui::Button("Save...")) browse(BrowseFor::SaveParams, form_.path);
  // Numbers get the room of the widest one "%g" shows; text fields the rest of the line beside their label;
  // choices their widest choice. A label that does not fit beside its field goes above it (place_label).
  const float number_width = text_width("-0.000123") + 2 * ImGui::GetStyle().FramePadding.x;
  for (const ParamSpec& spec : form_.specs) {
    std::string label = spec.label + (spec.unit.empty() ? "" : " [" + spec.unit + "]") + "##" + spec.key;
    const std::string current = form_.values.get_string(spec.key);
    if (spec.type == ParamType::Int || spec.type == ParamType::Double) {
      label = place_label(label, number_width);
    } else if (spec.type == ParamType::Choice) {
      label = place_label(label, std::max(number_width, combo_width(spec.choices)));
    } else if (spec.type != ParamType::Bool) {
      const float rest = ImGui::GetContentRegionAvail().x - text_width(shown_label(label)) -
                         ImGui::GetStyle().ItemInnerSpacing.x;
      label = place_label(label, std::max(number_width, rest));
    }
    switch (spec.type) {
      case ParamType::Bool: {
        bool v = form_.values.get_bool(spec.key);
        if (ImGui::Checkbox(label.c_str(), &v)) set_form_value(spec.key, v ? "true" : "false");
        break;
      }
      case ParamType::Int: {
        int v = form_.values.get_int(spec.key);
        if (ImGui::InputInt(label.c_str(), &v, 0, 0)) set_form_value(spec.key, std::to_string(v));
        break;
      }
      case ParamType::Double: {
        double v = form_.values.get_double(spec.key);
        if (ImGui::InputDouble(label.c_str(), &v, 0, 0, "%g")) set_form_value(spec.key, format_number(v));
        break;
      }
      case ParamType::Choice: {
        if (ImGui::BeginCombo(label.c_str(), current.c_str())) {
          for (const auto& choice : spec.choices) {
            if (ImGui::Selectable(choice.c_str(), choice == current)) set_form_value(spec.key, choice);
          }
          ImGui::EndCombo();
        }
        break;
      }
      default: {  // text (stain vectors, background): applied on Enter, not per keystroke
        char buf[512];
        std::snprintf(buf, sizeof(buf), "%s", current.c_str());
        if (ImGui::InputText(label.c_str(), buf, sizeof(buf), ImGuiInputTextFlags_EnterReturnsTrue)) {
          set_form_value(spec.key, buf);
        }
        break;
      }
    }
    if (ImGui::IsItemHovered() && !spec.help.empty()) {
      ImGui::BeginTooltip();
      ImGui::PushTextWrapPos(ImGui::GetFontSize() * 32.0f);
      ImGui::TextUnformatted((spec.key + ": " + spec.help).c_str());
      ImGui::PopTextWrapPos();
      ImGui::EndTooltip();
    }
  }
  if (!form_.error.empty()) ImGui::TextColored(ImVec4(1.0f, 0.35f, 0.3f, 1.0f), "%s", form_.error.c_str());
}

void Viewer::draw_panel() {
  int w, h;
  glfwGetWindowSize(window_, &w, &h);
  ImGui::SetNextWindowPos(ImVec2(float(w) - kPanelWidth, 0));
  ImGui::SetNextWindowSize(ImVec2(kPanelWidth, float(h) - kStatusHeight));
  ImGui::Begin("Panel", nullptr,
               ImGuiWindowFlags_NoTitleBar | ImGuiWindowFlags_NoResize | ImGuiWindowFlags_NoMove |
                   ImGuiWindowFlags_NoCollapse);
  ImGui::PushItemWidth(180);
  panel_slide();
  panel_display();
  panel_cells();
  panel_detection();
  panel_thresholds();
  panel_review();
  panel_summary();
  ImGui::PopItemWidth();
  ImGui::End();
}

// ---- file browser (Dear ImGui has none): a modal over the window, state in browser_ (gui/file_browser)

namespace {

const char* browse_title(BrowseFor p) {
  switch (p) {
    case BrowseFor::Slide:
      return "Open slide or image";
    case BrowseFor::Results:
      return "Open results folder (OUT/slides/<id>)";
    case BrowseFor::LoadParams:
      return "Load parameter file";
    case BrowseFor::SaveParams:
      return "Save parameter file";
  }
  return "";
}

}  // namespace

void Viewer::browse(BrowseFor purpose, const std::filesystem::path& start) {
  namespace fs = std::filesystem;
  fs::path from = start;
  // The parameter field holds a name relative to the working folder, as --params takes it.
  if (!from.empty() && from.is_relative()) from = fs::current_path() / from;
  start_browsing(browser_, purpose, from);
  if (purpose == BrowseFor::SaveParams && browser_.typed.empty()) browser_.typed = "ihcview.params";
}

void Viewer::run_browser_choice() {
  if (browser_choice_.empty()) return;
  const std::filesystem::path p = std::move(browser_choice_);
  browser_choice_.clear();
  bool ok = false;
  std::string why;
  switch (browser_.purpose) {
    case BrowseFor::Slide:
      ok = open(p);
      why = message_;
      break;
    case BrowseFor::Results:
      load_results(p, LoadedResults::Asked::Browser);  // a failure reopens the browser when the reading ends
      ok = true;
      break;
    case BrowseFor::LoadParams:
      form_.path = p.string();
      ok = load_params(p);
      why = form_.error;
      break;
    case BrowseFor::SaveParams:
      form_.path = p.string();
      ok = save_params(p);
      why = form_.error;
      break;
  }
  if (!ok) {  // back to the browser, where the choice was made, with the reason
    browser_.error = why;
    browser_.visible = true;
    browser_.opening = true;
    browser_.focus_name = true;
  }
}

void Viewer::draw_file_browser() {
  namespace fs = std::filesystem;
  FileBrowser& b = browser_;
  if (!b.visible) return;
  const std::string title = std::string(browse_title(b.purpose)) + "###file_browser";
  if (b.opening) {
    ImGui::OpenPopup(title.c_str());
    b.opening = false;
  }
  const ImGuiIO& io = ImGui::GetIO();
  ImGui::SetNextWindowPos(ImVec2(io.DisplaySize.x * 0.5f, io.DisplaySize.y * 0.5f), ImGuiCond_Appearing,
                          ImVec2(0.5f, 0.5f));
  ImGui::SetNextWindowSize(
      ImVec2(std::min(760.0f, io.DisplaySize.x - 40.0f), std::min(500.0f, io.DisplaySize.y - 40.0f)),
      ImGuiCond_Appearing);
  bool keep = true;
  if (!ImGui::BeginPopupModal(title.c_str(), &keep)) {
    b.visible = false;
    return;
  }
  fs::path enter;   // a folder to show instead, after the list is drawn
  fs::path accept;  // a choice to check and take
  bool relist = false;
  if (ImGui::Button("Up")) enter = b.listing.dir.parent_path();
  ImGui::SameLine();
  if (ImGui::Button("Home")) enter = resolve_typed(b.listing.dir, "~");
  ImGui::SameLine();
  char folder[1024];
  std::snprintf(folder, sizeof(folder), "%s", b.listing.dir.string().c_str());
  ImGui::SetNextItemWidth(-1.0f);
  if (ImGui::InputText("##folder", folder, sizeof(folder), ImGuiInputTextFlags_EnterReturnsTrue)) {
    enter = resolve_typed(b.listing.dir, folder);
  }
  // Room below the list for the name field, the buttons and the red line of a refusal, wrapped (a long path
  // ran past the dialog's edge, the reason cut off).
  const float error_height =
      b.error.empty()
          ? ImGui::GetTextLineHeight()
          : ImGui::CalcTextSize(b.error.c_str(), nullptr, false, ImGui::GetContentRegionAvail().x).y;
  const float footer =
      ImGui::GetFrameHeightWithSpacing() * 2.0f + error_height + ImGui::GetStyle().ItemSpacing.y;
  const ImGuiTableFlags flags =
      ImGuiTableFlags_ScrollY | ImGuiTableFlags_RowBg | ImGuiTableFlags_BordersOuter;
  if (ImGui::BeginTable("entries", 2, flags, ImVec2(0.0f, -footer))) {
    ImGui::TableSetupScrollFreeze(0, 1);
    ImGui::TableSetupColumn("Name", ImGuiTableColumnFlags_WidthStretch);
    ImGui::TableSetupColumn("Size", ImGuiTableColumnFlags_WidthFixed, 80.0f);
    ImGui::TableHeadersRow();
    for (std::size_t i = 0; i < b.listing.entries.size(); ++i) {
      const BrowserEntry& e = b.listing.entries[i];
      ImGui::TableNextRow();
      ImGui::TableNextColumn();
      const std::string label = (e.is_dir ? e.name + "/" : e.name) + "##" + std::to_string(i);
      if (e.is_dir) ImGui::PushStyleColor(ImGuiCol_Text, ImVec4(0.55f, 0.78f, 1.0f, 1.0f));
      const bool clicked =
          ImGui::Selectable(label.c_str(), b.selected == static_cast<int>(i),
                            ImGuiSelectableFlags_SpanAllColumns | ImGuiSelectableFlags_AllowDoubleClick);
      if (e.is_dir) ImGui::PopStyleColor();
      if (clicked) {
        b.selected = static_cast<int>(i);
        b.error.clear();
        // A file's name goes into the name field, as in any desktop dialog; a results folder's too.
        if (b.purpose == BrowseFor::Results) {
          b.typed = e.is_dir ? e.name : "";  // a results file stands for the folder shown
        } else if (!e.is_dir) {
          b.typed = e.name;
        }
        if (ImGui::IsMouseDoubleClicked(ImGuiMouseButton_Left)) {
          if (e.is_dir) {
            enter = b.listing.dir / e.name;
          } else {
            accept = current_choice(b);
          }
        }
      }
      ImGui::TableNextColumn();
      if (!e.is_dir) ImGui::TextUnformatted(size_label(e.size).c_str());
    }
    if (b.listing.entries.empty()) {
      ImGui::TableNextRow();
      ImGui::TableNextColumn();
      ImGui::TextDisabled(b.all_files ? "(empty folder)"
                                      : "(nothing to open here; All files shows every file)");
    }
    ImGui::EndTable();
  }
  char name[1024];
  std::snprintf(name, sizeof(name), "%s", b.typed.c_str());
  ImGui::SetNextItemWidth(-250.0f);
  if (b.focus_name) {  // type a name at once, Enter takes it; after a refusal, type again
    ImGui::SetKeyboardFocusHere();
    b.focus_name = false;
  }
  const char* name_label = b.purpose == BrowseFor::Results ? "Folder" : "Name";
  const bool entered = ImGui::InputText(name_label, name, sizeof(name), ImGuiInputTextFlags_EnterReturnsTrue);
  // Logged when the field takes the keyboard: keys typed before then go elsewhere (scripts driving the
  // window wait for this line).
  if (ImGui::IsItemActive() && !b.name_active) {
    std::fprintf(stderr, "file browser: name field ready in %s\n", b.listing.dir.string().c_str());
  }
  b.name_active = ImGui::IsItemActive();
  if (entered) {
    b.typed = name;
    accept = current_choice(b);
    b.focus_name = true;
  } else if (b.typed != name) {
    b.typed = name;
    b.error.clear();
  }
  ImGui::SameLine();
  if (ImGui::Checkbox("All files", &b.all_files)) relist = true;
  const fs::path choice = current_choice(b);
  std::error_code ec;
  // Set only after the file was found to exist (below): no look at the disk every frame.
  const bool replacing = b.purpose == BrowseFor::SaveParams && !choice.empty() && b.replace == choice;
  const char* verb = b.purpose == BrowseFor::LoadParams   ? "Load"
                     : b.purpose == BrowseFor::SaveParams ? (replacing ? "Replace" : "Save")
                                                          : "Open";
  if (ImGui::Button(verb, ImVec2(90, 0))) accept = choice;
  ImGui::SameLine();
  if (ImGui::Button("Cancel", ImVec2(90, 0)) || ImGui::IsKeyPressed(GLFW_KEY_ESCAPE, false)) keep = false;
  if (!b.error.empty()) {
    ImGui::PushStyleColor(ImGuiCol_Text, ImVec4(1.0f, 0.35f, 0.3f, 1.0f));
    ImGui::TextWrapped("%s", b.error.c_str());
    ImGui::PopStyleColor();
  }

  if (!accept.empty()) {
    // A folder typed or double-clicked is entered (a results folder without cells too: OUT is opened
    // on the way to OUT/slides/<id>).
    const bool is_dir = fs::is_directory(accept, ec);
    const std::string why = check_choice(accept, b.purpose);
    if (is_dir && (b.purpose != BrowseFor::Results || !why.empty())) {
      enter = accept;
      b.typed.clear();
    } else if (!why.empty()) {
      b.error = why;
    } else if (b.purpose == BrowseFor::SaveParams && fs::exists(accept, ec) && b.replace != accept) {
      b.replace = accept;
      b.error = accept.string() + " exists: Replace overwrites it";
      std::fprintf(stderr, "file browser: asks before replacing %s\n", accept.string().c_str());
    } else {
      browser_choice_ = accept;  // run at the start of the next frame
      keep = false;
    }
  }
  if (!enter.empty()) {
    enter_folder(b, enter);
    if (b.error.empty() && b.purpose != BrowseFor::SaveParams) b.typed.clear();  // a save keeps its name
  } else if (relist) {
    enter_folder(b, b.listing.dir);
  }
  if (!keep) {
    b.visible = false;
    ImGui::CloseCurrentPopup();
  }
  ImGui::EndPopup();
}

StatusParts Viewer::status_parts() const {
  StatusParts p;
  p.message = message_;
  if (!slide_) return p;
  const SlideInfo& i = slide_->info();
  p.view = magnification_label(i.objective_power, view_.downsample) + " | ";
  // Only a point of the slide has a position: nothing while the pointer is over a panel or beside the slide.
  if (const std::optional<cv::Point2d> at = pointer_on_slide())
    p.position = position_label(*at, pixel_size_.x) + " | ";
  // The reviewed scores stay in sight whatever panels are open or scrolled: they are what is reported.
  if (results_.table.size() > 0) {
    const Scores& f = slide_summary_.final;
    p.scores = std::to_string(f.detections) + " cells: " + number_or_dash(f.positive_percent, 1) +
               " % positive, H-score " + number_or_dash(f.h_score, 1) + ", IxP " + number_or_dash(f.ixp, 1) +
               " | ";
  }
  char b[160];
  std::snprintf(b, sizeof b, "tiles %zu pending, cache %.0f MB, tex %.0f MB | %.1f ms | ", loader_->pending(),
                cache_->bytes() / 1048576.0, texture_bytes_ / 1048576.0, last_frame_ms_);
  p.figures = b;
  return p;
}

std::string Viewer::status_text() const { return status_parts().whole(); }

void Viewer::draw_status() {
  int w, h;
  glfwGetWindowSize(window_, &w, &h);
  ImGui::SetNextWindowPos(ImVec2(0, float(h) - kStatusHeight));
  ImGui::SetNextWindowSize(ImVec2(float(w), kStatusHeight));
  ImGui::Begin("Status", nullptr,
               ImGuiWindowFlags_NoTitleBar | ImGuiWindowFlags_NoResize | ImGuiWindowFlags_NoMove |
                   ImGuiWindowFlags_NoScrollbar);
  // One line, never cut at the window's edge (a save failure read "Save failed: outD/slides/OS-2-nd"):
  // shortened where it says least, the whole line on hover.
  const std::string whole = status_text();
  const std::string shown = fit_status(status_parts(), ImGui::GetContentRegionAvail().x,
                                       [](const std::string& t) { return ImGui::CalcTextSize(t.c_str()).x; });
  ImGui::TextUnformatted(shown.c_str());
  if (shown != whole && ImGui::IsWindowHovered()) {
    ImGui::BeginTooltip();
    ImGui::PushTextWrapPos(std::min(900.0f, float(w) - 40.0f));
    ImGui::TextUnformatted(whole.c_str());
    ImGui::PopTextWrapPos();
    ImGui::EndTooltip();
  }
  ImGui::End();
}

}  // namespace ihc::gui
