// ihcview: scripted sessions (tests, demos) and screenshots.
#include "gui/viewer.hpp"

#include <cstdio>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "imaging/pipeline.hpp"
#include "models/atomic_file.hpp"

namespace ihc::gui {

bool Viewer::write_screenshot(const std::filesystem::path& path) {
  int w, h;
  glfwGetFramebufferSize(window_, &w, &h);
  cv::Mat rgb(h, w, CV_8UC3);
  glPixelStorei(GL_PACK_ALIGNMENT, 1);
  glReadBuffer(GL_BACK);
  glReadPixels(0, 0, w, h, GL_RGB, GL_UNSIGNED_BYTE, rgb.data);
  cv::Mat flipped, bgr;
  cv::flip(rgb, flipped, 0);
  cv::cvtColor(flipped, bgr, cv::COLOR_RGB2BGR);
  std::error_code ec;
  if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path(), ec);
  if (!cv::imwrite(path.string(), bgr)) {
    message_ = path.string() + ": cannot write screenshot";
    std::fprintf(stderr, "ihcview: %s\n", message_.c_str());
    return false;
  }
  message_ = "Screenshot " + path.string();
  return true;
}

bool Viewer::script_job_running() const {
  return job_running_ || estimating_.valid() || loading_.valid() || typing_.valid() || exporting_.valid();
}

// One script command per frame (or more when they do not need a frame); returns false when the script ended.
bool Viewer::script_step() {
  const std::string origin = opt_.script.string();
  auto fail = [&](const ScriptCommand& c, const std::string& why) {
    std::fprintf(stderr, "ihcview: %s:%d: %s\n", origin.c_str(), c.line, why.c_str());
    exit_code_ = 3;
  };
  if (script_wait_frames_ > 0) {
    --script_wait_frames_;
    return true;
  }
  if (bench_.frames_left > 0) {
    bench_.times.push_back(last_frame_ms_);
    bench_.cpu_times.push_back(last_frame_cpu_ms_);
    pan_screen(view_, bench_.step, limits_);
    if (--bench_.frames_left == 0) {
      // The first frame is before any panning.
      std::vector<double> t(bench_.times.begin() + (bench_.times.size() > 1 ? 1 : 0), bench_.times.end());
      std::vector<double> u(bench_.cpu_times.begin() + (bench_.cpu_times.size() > 1 ? 1 : 0),
                            bench_.cpu_times.end());
      std::sort(t.begin(), t.end());
      std::sort(u.begin(), u.end());
      char buf[256];
      std::snprintf(
          buf, sizeof buf,
          "bench-pan: %zu frames, median %.2f ms, p95 %.2f ms, max %.2f ms; CPU (all threads) "
          "median %.2f ms, p95 %.2f ms; decoded tiles %.0f MB, textures %.0f MB, overlay tiles %zu\n",
          t.size(), t[t.size() / 2], t[t.size() * 95 / 100], t.back(), u[u.size() / 2],
          u[u.size() * 95 / 100], cache_ ? cache_->bytes() / 1048576.0 : 0.0, texture_bytes_ / 1048576.0,
          overlay_.size());
      std::fputs(buf, stdout);
      std::fflush(stdout);
      if (!bench_.out.empty()) {
        // One row per frame so a benchmark script can compute its own statistics.
        std::string tsv = "frame\twall_ms\tcpu_ms\n";
        for (std::size_t i = 0; i < bench_.times.size(); ++i) {
          std::snprintf(buf, sizeof buf, "%zu\t%.3f\t%.3f\n", i, bench_.times[i], bench_.cpu_times[i]);
          tsv += buf;
        }
        write_file_atomic(bench_.out, tsv);
      }
    }
    return true;
  }
  // Keys and characters of `press` and `type` are seen before the next command runs.
  if (!trickle_.settled()) return true;
  if (!script_widget_.label.empty()) {
    if (!script_widget_.hit) {
      std::fprintf(stderr, "ihcview: %s:%d: widget: no widget '%s' is shown (a closed panel or dialog?)\n",
                   origin.c_str(), script_widget_.line, script_widget_.label.c_str());
      exit_code_ = 3;
    }
    script_widget_ = {};
  }
  // After `browse`, commands wait for the name field to have the keyboard, as a person waits for the dialog.
  if (script_await_browser_ > 0 && browser_.visible && !browser_.name_active) {
    if (++script_await_browser_ <= 60) return true;
    std::fprintf(stderr,
                 "ihcview: %s: the file browser's name field did not take the keyboard in 60 frames\n",
                 origin.c_str());
    exit_code_ = 3;
  }
  script_await_browser_ = 0;
  if (script_await_load_) {
    if (loading_.valid()) return true;
    script_await_load_ = false;
  }
  if (script_waiting_) {
    const bool job = script_job_running();
    const bool done = full_view_ready() && !job;
    if (!done && ms_since(script_wait_start_) < script_wait_limit_s_ * 1000) return true;
    script_waiting_ = false;
    if (!done) {
      // A test or benchmark must not carry on from a view that never completed as if it had (before, the
      // wait ran out after 120 s without a word).
      std::fprintf(stderr, "ihcview: %s:%d: wait: not done after %g s (%s; %zu tiles pending)\n",
                   origin.c_str(), script_wait_line_, script_wait_limit_s_,
                   job ? "a background job runs" : "the view is not complete",
                   loader_ ? loader_->pending() : std::size_t{0});
      exit_code_ = 3;
    }
  }
  while (script_pc_ < script_.size()) {
    const ScriptCommand& c = script_[script_pc_++];
    auto num = [&](std::size_t i) { return script_number(c, i, origin); };
    auto pt = [&](std::size_t i) { return cv::Point2d(num(i), num(i + 1)); };
    auto mouse = [&](InputEvent::Type type, cv::Point2d p, int button = 0, bool shift = false) {
      InputEvent e;
      e.type = type;
      e.pos = p;
      e.button = button;
      e.shift = shift;
      send(e);
    };
    const std::string& n = c.name;
    if (n == "size") {
      glfwSetWindowSize(window_, static_cast<int>(num(0)), static_cast<int>(num(1)));
      script_wait_frames_ = 2;
      return true;
    } else if (n == "open") {
      if (!open(c.args[0])) {
        exit_code_ = 2;
        return false;
      }
    } else if (n == "results") {
      load_results(c.args[0]);
      script_await_load_ =
          true;  // the next command runs once the cells are shown (a failure ends the script)
      return true;
    } else if (n == "wait") {
      script_waiting_ = true;
      script_wait_start_ = Clock::now();
      script_wait_limit_s_ = c.args.empty() ? kScriptWaitSeconds : num(0);
      script_wait_line_ = c.line;
      return true;
    } else if (n == "frames") {
      script_wait_frames_ = static_cast<int>(num(0));
      return true;
    } else if (n == "fit") {
      fit(view_, limits_);
    } else if (n == "one-to-one") {
      one_to_one(view_, limits_);
    } else if (n == "zoom") {
      const cv::Point2d at = c.args.size() == 3 ? pt(1)
                                                : cv::Point2d(view_.canvas.x + view_.canvas.width / 2,
                                                              view_.canvas.y + view_.canvas.height / 2);
      zoom_about(view_, at, num(0), limits_);
    } else if (n == "pan") {
      pan_screen(view_, pt(0), limits_);
    } else if (n == "center") {
      view_.center = pt(0);
      view_.downsample = num(2);
      clamp(view_, limits_);
    } else if (n == "center-at") {
      view_.center = {num(0) * limits_.slide_size.width, num(1) * limits_.slide_size.height};
      view_.downsample = num(2);
      clamp(view_, limits_);
    } else if (n == "mouse") {
      mouse(InputEvent::Type::MouseMove, pt(0));
    } else if (n == "click" || n == "dblclick") {
      const bool shift = c.args.size() == 3 && c.args[2] == "shift";
      mouse(InputEvent::Type::MouseMove, pt(0));
      mouse(InputEvent::Type::MouseDown, pt(0), 0, shift);
      mouse(InputEvent::Type::MouseUp, pt(0), 0, shift);
      if (n == "dblclick") mouse(InputEvent::Type::DoubleClick, pt(0));
    } else if (n == "drag") {
      int button = 0;
      Key hold = Key::None;
      for (std::size_t i = 4; i < c.args.size(); ++i) {
        if (c.args[i] == "middle") button = 2;
        if (c.args[i].rfind("hold-", 0) == 0) hold = parse_key(c.args[i].substr(5));
      }
      if (hold != Key::None) send({InputEvent::Type::KeyDown, {}, 0, 0, hold});
      const cv::Point2d a = pt(0), b = pt(2);
      mouse(InputEvent::Type::MouseMove, a);
      mouse(InputEvent::Type::MouseDown, a, button);
      for (int s = 1; s <= 10; ++s) mouse(InputEvent::Type::MouseMove, a + (b - a) * (s / 10.0), button);
      mouse(InputEvent::Type::MouseUp, b, button);
      if (hold != Key::None) send({InputEvent::Type::KeyUp, {}, 0, 0, hold});
    } else if (n == "wheel") {
      InputEvent e;
      e.type = InputEvent::Type::Wheel;
      e.pos = pt(0);
      e.wheel = num(2);
      send(e);
    } else if (n == "key") {
      std::string k = c.args[0];
      InputEvent e;
      e.pos = input_.hover_screen();
      for (;;) {
        if (k.rfind("ctrl+", 0) == 0) {
          e.ctrl = true;
          k = k.substr(5);
        } else if (k.rfind("shift+", 0) == 0) {
          e.shift = true;
          k = k.substr(6);
        } else {
          break;
        }
      }
      e.key = parse_key(k);
      if (e.key == Key::None) {
        fail(c, "unknown key '" + c.args[0] + "'");
        return false;
      }
      e.type = InputEvent::Type::KeyDown;
      send(e);
      e.type = InputEvent::Type::KeyUp;
      send(e);
    } else if (n == "tool") {
      const std::string& t = c.args[0];
      input_.set_tool(t == "rectangle" ? Tool::Rectangle
                      : t == "polygon" ? Tool::Polygon
                      : t == "brush"   ? Tool::Brush
                                       : Tool::Move);
    } else if (n == "region-kind") {
      input_.set_region_kind(c.args[0] == "exclude" ? RegionKind::Exclude : RegionKind::Include);
    } else if (n == "channel") {
      const std::string& v = c.args[0];
      channel_ = v == "hematoxylin" ? Channel::Hematoxylin
                 : v == "dab"       ? Channel::Dab
                 : v == "residual"  ? Channel::Residual
                                    : Channel::Rgb;
      ++display_version_;
    } else if (n == "display") {
      const std::string& v = c.args[0];
      for (int d = 0; d < kDisplayCount; ++d) {
        if (v == kDisplayWords[d]) cell_display_ = static_cast<CellDisplay>(d);
      }
    } else if (n == "opacity") {
      opacity_ = static_cast<float>(num(0));
    } else if (n == "thresholds" || n == "threshold-single") {
      GradingParams g = live_thresholds_;
      if (n == "thresholds") {
        g.mode = ThresholdMode::Three;
        g.threshold_1plus = num(0);
        g.threshold_2plus = num(1);
        g.threshold_3plus = num(2);
      } else {
        g.mode = ThresholdMode::Single;
        g.threshold_positive = num(0);
      }
      try {
        // As the parameter system checks them (range, order, what the group score needs), with its
        // message: save-params would refuse them later.
        ParamSet whole = current_params();
        set_grading_params(whole, g, "viewer");
        check_scoring_params(whole);
      } catch (const std::exception& e) {
        fail(c, e.what());
        return false;
      }
      live_thresholds_ = g;
      editor_.set_thresholds(g);
      nav_order_.clear();
      refresh_cells(true);
    } else if (n == "summary-region") {
      // As a click on the region's row in the Review panel.
      const auto id = static_cast<std::int64_t>(num(0));
      const auto& regions = editor_.review().regions;
      if (std::none_of(regions.begin(), regions.end(), [&](const ReviewRegion& r) { return r.id == id; })) {
        fail(c, "no region " + c.args[0]);
        return false;
      }
      summary_region_ = id;
      refresh_cells(false);
    } else if (n == "select-class") {  // as the Review panel's "Select all cells of class"
      CellClass cls{};
      if (!parse_class_name(c.args[0], &cls)) {
        fail(c, "unknown class '" + c.args[0] + "'");
        return false;
      }
      select_cells(select_by_class(state_, cls), "of " + c.args[0]);
    } else if (n == "select-range") {
      select_cells(select_by_range(results_.table, live_thresholds_.measurement, num(0), num(1)),
                   "in the range");
    } else if (n == "select-none") {
      apply({Action::Type::ClearSelection});
    } else if (n == "widget") {
      script_widget_ = {c.args[0], false, c.line};
      script_wait_frames_ = 1;  // drawn (clicked) this frame; a text field takes the keyboard at the next
      return true;
    } else if (n == "filter") {
      const std::string& v = c.args[0];
      nav_filter_ = v == "all"          ? NavFilter::All
                    : v == "borderline" ? NavFilter::Borderline
                    : v == "Negative"   ? NavFilter::Negative
                    : v == "1+"         ? NavFilter::OnePlus
                    : v == "2+"         ? NavFilter::TwoPlus
                                        : NavFilter::ThreePlus;
      nav_order_.clear();
    } else if (n == "override") {
      editor_.set_intensity_override({true, static_cast<int>(num(0)), c.args[1]});
      refresh_cells(false);
    } else if (n == "clear-override") {
      editor_.set_intensity_override({});
      refresh_cells(false);
    } else if (n == "param") {
      std::string value = c.args[1];
      for (std::size_t i = 2; i < c.args.size(); ++i) value += " " + c.args[i];  // "OD sum"
      if (!set_form_value(c.args[0], value)) fail(c, form_.error);
    } else if (n == "panel") {
      static const char* const kPanels[] = {"Slide",      "Display", "Cells",  "Detection",
                                            "Thresholds", "Review",  "Summary"};
      const bool known = std::any_of(std::begin(kPanels), std::end(kPanels),
                                     [&](const char* name) { return c.args[0] == name; });
      if (!known || (c.args[1] != "open" && c.args[1] != "close")) {
        std::string names;
        for (const char* name : kPanels) names += (names.empty() ? "" : ", ") + std::string(name);
        fail(c, "panel: expected one of " + names + " and open or close");
        return false;
      }
      panel_requests_[c.args[0]] = c.args[1] == "open";
    } else if (n == "browse") {
      static const std::pair<const char*, BrowseFor> kKinds[] = {{"slide", BrowseFor::Slide},
                                                                 {"results", BrowseFor::Results},
                                                                 {"load-params", BrowseFor::LoadParams},
                                                                 {"save-params", BrowseFor::SaveParams}};
      const auto* k = std::find_if(std::begin(kKinds), std::end(kKinds),
                                   [&](const auto& kind) { return c.args[0] == kind.first; });
      if (k == std::end(kKinds)) {
        fail(c, "browse: expected slide, results, load-params or save-params");
        return false;
      }
      browse(k->second, c.args.size() > 1 ? std::filesystem::path(c.args[1]) : slide_path_);
      script_await_browser_ = 1;
      return true;
    } else if (n == "type") {
      std::vector<unsigned int> text;
      utf8_code_points(c.args[0], &text);  // checked by the parser
      for (unsigned int ch : text) trickle_.inject_char(ch);
      return true;
    } else if (n == "press") {
      // As GLFW on X11 delivers a chord: the modifiers pressed in order, each event's mods being the state
      // before it, the key pressed (its character after it when it types one) and released, the modifiers
      // released in reverse order.
      KeyChord k;
      parse_key_chord(c.args[0], &k);  // checked by the parser
      static const std::pair<int, int> kModifierKeys[] = {{GLFW_MOD_CONTROL, GLFW_KEY_LEFT_CONTROL},
                                                          {GLFW_MOD_SHIFT, GLFW_KEY_LEFT_SHIFT},
                                                          {GLFW_MOD_ALT, GLFW_KEY_LEFT_ALT},
                                                          {GLFW_MOD_SUPER, GLFW_KEY_LEFT_SUPER}};
      int mods = 0;
      for (const auto& [bit, key] : kModifierKeys) {
        if ((k.mods & bit) == 0) continue;
        trickle_.inject_key(key, GLFW_PRESS, mods);
        mods |= bit;
      }
      trickle_.inject_key(k.key, GLFW_PRESS, mods);
      if (k.character != 0) trickle_.inject_char(k.character);
      trickle_.inject_key(k.key, GLFW_RELEASE, mods);
      for (auto it = std::rbegin(kModifierKeys); it != std::rend(kModifierKeys); ++it) {
        if ((k.mods & it->first) == 0) continue;
        trickle_.inject_key(it->second, GLFW_RELEASE, mods);
        mods &= ~it->first;
      }
      return true;
    } else if (n == "load-params") {
      if (!load_params(c.args[0])) fail(c, form_.error);
    } else if (n == "save-params") {
      if (!save_params(c.args[0])) fail(c, form_.error);
    } else if (n == "score") {
      const auto has = [&](const char* w) {
        return std::find(c.args.begin(), c.args.end(), w) != c.args.end();
      };
      start_scoring(has("region"));
      if (has("nowait")) continue;
      script_waiting_ = true;
      script_wait_start_ = Clock::now();
      script_wait_limit_s_ = kScriptWaitSeconds;
      script_wait_line_ = c.line;
      return true;
    } else if (n == "save") {
      save(true, true);
    } else if (n == "export-geojson") {
      export_geojson(c.args[0]);
    } else if (n == "export-summary") {
      export_summary(c.args[0]);
    } else if (n == "export-regions") {
      export_regions(c.args[0]);
    } else if (n == "screenshot") {
      pending_screenshot_ = c.args[0];
      return true;  // written after this frame is drawn
    } else if (n == "expect-pixel") {
      // Checked on this frame's back buffer once it is drawn (the front buffer is not readable everywhere).
      pending_pixels_.push_back(c);
      return true;
    } else if (n == "expect-class") {
      const auto id = static_cast<std::int64_t>(num(0));
      std::string got = "(no such cell)";
      for (std::size_t i = 0; i < results_.table.size(); ++i) {
        if (results_.table.cells[i].id == id)
          got = state_.deleted[i] ? "Deleted" : std::string(class_name(state_.classes[i]));
      }
      if (got != c.args[1]) fail(c, "cell " + c.args[0] + " is " + got + ", expected " + c.args[1]);
    } else if (n == "expect-class-at") {
      const int i = hit_test(results_.table, grid_, view_.to_slide(pt(0)), 4 * view_.downsample);
      const std::string got = i < 0               ? "(no cell)"
                              : state_.deleted[i] ? "Deleted"
                                                  : std::string(class_name(state_.classes[i]));
      if (got != c.args[2])
        fail(c, "cell at (" + c.args[0] + ", " + c.args[1] + ") is " + got + ", expected " + c.args[2]);
    } else if (n == "expect-count") {
      CellClass cls{};
      std::int64_t got = -1;
      // "region-NAME": the Summary panel's region table (summary-region), else its slide table.
      const bool region = c.args[0].rfind("region-", 0) == 0;
      const std::string what = region ? c.args[0].substr(7) : c.args[0];
      const Scores& scores = region ? region_summary_.final : slide_summary_.final;
      if (region && summary_region_ < 0) {
        got = -1;
      } else if (what == "selected" && !region) {
        got = static_cast<std::int64_t>(selection_.size());
      } else if (what == "detections") {
        got = scores.detections;
      } else if (parse_class_name(what, &cls)) {
        const GradeCounts& k = scores.counts;
        got = cls == CellClass::Negative    ? k.negative
              : cls == CellClass::OnePlus   ? k.one_plus
              : cls == CellClass::TwoPlus   ? k.two_plus
              : cls == CellClass::ThreePlus ? k.three_plus
                                            : k.positive_ungraded;
      }
      if (got != std::stoll(c.args[1]))
        fail(c, "count of " + c.args[0] + " is " + std::to_string(got) + ", expected " + c.args[1]);
    } else if (n == "expect-status" || n == "expect-no-status") {
      const std::string& want = c.args[0];  // the parser keeps free text whole, spaces included
      const std::string got = status_text();
      const bool holds = got.find(want) != std::string::npos;
      if (n == "expect-status" && !holds) fail(c, "status bar '" + got + "' does not hold '" + want + "'");
      if (n == "expect-no-status" && holds) fail(c, "status bar '" + got + "' holds '" + want + "'");
    } else if (n == "bench-pan") {
      bench_.frames_left = static_cast<int>(num(0));
      bench_.step = pt(1);
      bench_.times.clear();
      bench_.cpu_times.clear();
      bench_.out = c.args.size() > 3 ? c.args[3] : "";
      return true;
    } else if (n == "close") {
      glfwSetWindowShouldClose(window_, GLFW_TRUE);  // the window's close button
      return true;
    } else if (n == "quit") {
      return false;
    }
  }
  return false;
}

void Viewer::check_pixels() {
  int w, h;
  glfwGetFramebufferSize(window_, &w, &h);
  for (const ScriptCommand& c : pending_pixels_) {
    const std::string origin = opt_.script.string();
    const int x = static_cast<int>(script_number(c, 0, origin)),
              y = static_cast<int>(script_number(c, 1, origin));
    unsigned char px[3] = {0, 0, 0};
    glPixelStorei(GL_PACK_ALIGNMENT, 1);
    glReadBuffer(GL_BACK);
    glReadPixels(x, h - 1 - y, 1, 1, GL_RGB, GL_UNSIGNED_BYTE, px);
    const unsigned v = static_cast<unsigned>(std::stoul(c.args[2], nullptr, 16));
    const int want[3] = {int(v >> 16) & 255, int(v >> 8) & 255, int(v) & 255};
    const int tol = static_cast<int>(script_number(c, 3, origin));
    bool ok = true;
    for (int k = 0; k < 3; ++k) ok &= std::abs(px[k] - want[k]) <= tol;
    if (!ok) {
      std::fprintf(stderr, "ihcview: %s:%d: pixel (%d, %d) is %02X%02X%02X, expected %s +/- %d\n",
                   origin.c_str(), c.line, x, y, px[0], px[1], px[2], c.args[2].c_str(), tol);
      exit_code_ = 3;
    }
  }
  pending_pixels_.clear();
}

}  // namespace ihc::gui
