#include "gui/app.hpp"

#include <backends/imgui_impl_glfw.h>
#include <backends/imgui_impl_opengl3.h>
#include <malloc.h>

#include <algorithm>
#include <cfloat>
#include <ctime>

#include "gui/viewer.hpp"

namespace ihc::gui {

namespace {

// CPU time of every thread of the process (llvmpipe's rasteriser threads and tile readers included): a frame
// cost that a busy machine inflates far less than wall time.
double process_cpu_ms() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

std::atomic<bool> g_glfw_up{false};

}  // namespace

void wake_ui() {
  if (g_glfw_up.load()) glfwPostEmptyEvent();
}

// ------------------------------------------------------------------------------------------------ input

void Viewer::send(const InputEvent& e) {
  for (const Action& a : input_.handle(e, view_, limits_)) apply(a);
}

void Viewer::frame_input() {
  ImGuiIO& io = ImGui::GetIO();
  const cv::Point2d pos(io.MousePos.x, io.MousePos.y);
  const bool over_canvas = !io.WantCaptureMouse && view_.canvas.contains(pos);
  pointer_off_canvas_ = io.WantCaptureMouse || !ImGui::IsMousePosValid();
  InputEvent base;
  base.pos = pos;
  base.ctrl = io.KeyCtrl;
  base.shift = io.KeyShift;
  if (io.MouseDelta.x != 0 || io.MouseDelta.y != 0) {
    InputEvent e = base;
    e.type = InputEvent::Type::MouseMove;
    send(e);
  }
  for (int b = 0; b < 3; ++b) {
    if (ImGui::IsMouseClicked(b) && over_canvas) {
      InputEvent e = base;
      e.type = ImGui::IsMouseDoubleClicked(b) ? InputEvent::Type::DoubleClick : InputEvent::Type::MouseDown;
      e.button = b;
      send(e);
      if (e.type == InputEvent::Type::DoubleClick) {
        e.type = InputEvent::Type::MouseDown;
        send(e);
      }
      mouse_down_[b] = true;
    }
    if (ImGui::IsMouseReleased(b) && mouse_down_[b]) {
      InputEvent e = base;
      e.type = InputEvent::Type::MouseUp;
      e.button = b;
      send(e);
      mouse_down_[b] = false;
    }
  }
  if (io.MouseWheel != 0 && over_canvas) {
    InputEvent e = base;
    e.type = InputEvent::Type::Wheel;
    e.wheel = io.MouseWheel;
    send(e);
  }
  if (io.WantCaptureKeyboard) {
    // A text field (the override's Reason, a Detection field) has the keyboard. Ctrl+Q quits and Ctrl+S saves
    // from it as from anywhere; a click on the slide, or a review key with the pointer back on it, is for the
    // slide: the field lets go and the key acts (before session 25 the keys were typed into the field until
    // it was clicked away).
    static const int kReviewKeys[] = {GLFW_KEY_0,    GLFW_KEY_1,    GLFW_KEY_2,
                                      GLFW_KEY_3,    GLFW_KEY_KP_0, GLFW_KEY_KP_1,
                                      GLFW_KEY_KP_2, GLFW_KEY_KP_3, GLFW_KEY_DELETE};
    // Ctrl+S saves from a field too, as in every desktop program.
    const bool command = io.KeyCtrl && (ImGui::IsKeyPressed(letters_.key('q'), false) ||
                                        ImGui::IsKeyPressed(letters_.key('s'), false));
    bool for_slide =
        over_canvas && (ImGui::IsMouseClicked(0) || ImGui::IsMouseClicked(1) || ImGui::IsMouseClicked(2));
    for (int code : kReviewKeys) for_slide |= over_canvas && !io.KeyCtrl && ImGui::IsKeyPressed(code, false);
    if (!command && !for_slide) return;
    ImGui::SetWindowFocus(nullptr);     // no window focused: ImGui deactivates the field (FocusWindow(NULL))
    io.InputQueueCharacters.resize(0);  // the key's character is not typed into it either
  }
  if (io.KeyCtrl && ImGui::IsKeyPressed(letters_.key('o'), false)) {  // QuPath's and every desktop's Open
    browse(BrowseFor::Slide, slide_path_);
    return;
  }
  // Every desktop's Quit: as the close button.
  if (io.KeyCtrl && ImGui::IsKeyPressed(letters_.key('q'), false)) {
    glfwSetWindowShouldClose(window_, GLFW_TRUE);
    return;
  }
  static const std::pair<int, Key> kMap[] = {
      {GLFW_KEY_0, Key::Num0},
      {GLFW_KEY_1, Key::Num1},
      {GLFW_KEY_2, Key::Num2},
      {GLFW_KEY_3, Key::Num3},
      {GLFW_KEY_KP_0, Key::Num0},
      {GLFW_KEY_KP_1, Key::Num1},
      {GLFW_KEY_KP_2, Key::Num2},
      {GLFW_KEY_KP_3, Key::Num3},
      {GLFW_KEY_DELETE, Key::Delete},
      {GLFW_KEY_BACKSPACE, Key::Delete},
      {GLFW_KEY_SPACE, Key::Space},
      {GLFW_KEY_LEFT, Key::Left},
      {GLFW_KEY_RIGHT, Key::Right},
      {GLFW_KEY_UP, Key::Up},
      {GLFW_KEY_DOWN, Key::Down},
      {GLFW_KEY_EQUAL, Key::Plus},
      {GLFW_KEY_KP_ADD, Key::Plus},
      {GLFW_KEY_MINUS, Key::Minus},
      {GLFW_KEY_KP_SUBTRACT, Key::Minus},
      {GLFW_KEY_HOME, Key::Home},
      {GLFW_KEY_ESCAPE, Key::Escape},
      {GLFW_KEY_ENTER, Key::Enter},
      {GLFW_KEY_KP_ENTER, Key::Enter},
  };
  // Letters by the letter on the key (LetterKeys), the other keys where they are.
  static const std::pair<char, Key> kLetters[] = {
      {'e', Key::E}, {'q', Key::Q}, {'h', Key::H}, {'r', Key::R}, {'p', Key::P}, {'b', Key::B}, {'s', Key::S},
      {'w', Key::W}, {'a', Key::A}, {'d', Key::D}, {'m', Key::M}, {'z', Key::Z}, {'y', Key::Y}};
  std::vector<std::pair<int, Key>> keys(std::begin(kMap), std::end(kMap));
  for (const auto& [letter, key] : kLetters) keys.emplace_back(letters_.key(letter), key);
  for (const auto& [code, key] : keys) {
    if (code < 0) continue;
    const bool repeat = key == Key::Left || key == Key::Right || key == Key::Up || key == Key::Down ||
                        key == Key::W || key == Key::A || key == Key::D;
    if (ImGui::IsKeyPressed(code, repeat)) {
      InputEvent e = base;
      e.type = InputEvent::Type::KeyDown;
      e.key = key;
      send(e);
    }
    if (ImGui::IsKeyReleased(code)) {
      InputEvent e = base;
      e.type = InputEvent::Type::KeyUp;
      e.key = key;
      send(e);
    }
  }
}

void Viewer::read_layout() {
  letters_.update([](int key) { return glfwGetKeyName(key, 0); });
  // Dear ImGui's text fields (Ctrl+A, C, V, X, Y, Z) read its key map, which the backend filled with the US
  // keys.
  ImGuiIO& io = ImGui::GetIO();
  static const std::pair<ImGuiKey_, char> kFieldKeys[] = {{ImGuiKey_A, 'a'}, {ImGuiKey_C, 'c'},
                                                          {ImGuiKey_V, 'v'}, {ImGuiKey_X, 'x'},
                                                          {ImGuiKey_Y, 'y'}, {ImGuiKey_Z, 'z'}};
  for (const auto& [k, letter] : kFieldKeys) io.KeyMap[k] = letters_.key(letter);
}

// Sleeps until the next frame has something to do. Tiles being read, results being parsed and exports wake
// the loop themselves (wake_ui: glfwPostEmptyEvent), input wakes it, and the autosave is a deadline: an idle
// viewer draws nothing (it redrew the same picture 4 times a second before, 5-6 % of a core under llvmpipe).
void Viewer::wait_for_work() {
  const bool script_runs = !script_.empty() && (!script_waiting_ || bench_.frames_left > 0 ||
                                                (full_view_ready() && !script_job_running()));
  const bool tiles_pending = loader_ && loader_->pending() > 0;
  const ImGuiIO& io = ImGui::GetIO();
  double timeout = -1;  // none: until an event
  if (script_runs || (uploads_deferred_ && !tiles_pending)) {
    timeout = 0;  // the last frame left ready pixels for this one (at most kUploadsPerFrame uploads a frame)
  } else if (tiles_pending || job_running_ || loading_.valid() || estimating_.valid()) {
    // The readers get the CPU instead of a loop redrawing the same picture; a scoring job's progress is
    // redrawn ten times a second (it posts no events).
    timeout = 0.1;
  } else if (settle_frames_ > 0) {
    // ImGui sizes a popup, a combo's list or a tooltip in the frame after the one that opens it: a few frames
    // follow every input before the loop sleeps.
    timeout = 0.02;
  } else if (std::any_of(std::begin(io.KeysDown), std::end(io.KeysDown), [](bool down) { return down; })) {
    timeout = 0.05;  // a key held down repeats (an arrow key pans) at ImGui's rate, X auto-repeat or not
  } else if ((slide_ && !full_view_ready()) || io.WantTextInput) {
    // A view that is not settled is looked at again, never in a busy loop; an active text field's cursor
    // blinks.
    timeout = 0.25;
  }
  // A script waits for what posts no event too (a background job's end, a `wait`'s timeout).
  if (!script_.empty()) timeout = timeout < 0 ? 0.25 : std::min(timeout, 0.25);
  if (review_unsaved()) {
    const double due =
        opt_.autosave_seconds - std::chrono::duration<double>(Clock::now() - last_save_try_).count();
    timeout = timeout < 0 ? std::max(0.0, due) : std::clamp(due, 0.0, timeout);
  }
  const auto t0 = Clock::now();
  if (timeout == 0) {
    glfwPollEvents();
  } else if (timeout < 0) {
    glfwWaitEvents();
  } else {
    glfwWaitEventsTimeout(timeout);
  }
  // Woken before the timeout: an event (input, or a background task's wake_ui).
  const bool woken = timeout < 0 || std::chrono::duration<double>(Clock::now() - t0).count() < timeout * 0.9;
  if (woken && timeout != 0) {
    settle_frames_ = kSettleFrames;
  } else if (settle_frames_ > 0) {
    --settle_frames_;
  }
}

int Viewer::run() {
  if (!opt_.script.empty()) {
    try {
      script_ = load_script(opt_.script.string());
    } catch (const std::exception& e) {
      std::fprintf(stderr, "ihcview: %s\n", e.what());
      return 1;
    }
  }
  if (!opt_.slide.empty() && opt_.results.empty() && std::filesystem::is_directory(opt_.slide)) {
    // `ihcview OUT/slides/<id>`: a result folder opens with the slide it was scored from.
    opt_.results = opt_.slide;
    try {
      opt_.slide = results_source(opt_.results, read_slide_json(opt_.results / "slide.json"));
    } catch (const std::exception& e) {
      std::fprintf(stderr, "ihcview: %s\n", e.what());
      return 2;
    }
    if (opt_.slide.empty()) {
      std::fprintf(stderr, "ihcview: %s: slide.json names no slide; give it: ihcview SLIDE --results %s\n",
                   opt_.results.string().c_str(), opt_.results.string().c_str());
      return 2;
    }
  }
  // Creating the window loads the GL driver (about 150 ms for llvmpipe): the slide's first tiles are read
  // meanwhile.
  const bool opened = opt_.slide.empty() || open(opt_.slide, opt_.results.empty() && opt_.find_results);
  if (!glfwInit()) {
    std::fprintf(stderr, "ihcview: cannot initialise GLFW (no display? set DISPLAY or run under xvfb-run)\n");
    return 1;
  }
  glfwWindowHint(GLFW_CONTEXT_VERSION_MAJOR, 3);
  glfwWindowHint(GLFW_CONTEXT_VERSION_MINOR, 0);
  window_ = glfwCreateWindow(opt_.width, opt_.height, "ihcview", nullptr, nullptr);
  if (window_ == nullptr) {
    std::fprintf(stderr, "ihcview: cannot create an OpenGL 3 window\n");
    glfwTerminate();
    return 1;
  }
  glfwMakeContextCurrent(window_);
  g_glfw_up = true;
  if (slide_) glfwSetWindowTitle(window_, ("ihcview - " + slide_path_.filename().string()).c_str());
  glfwSwapInterval(script_.empty() ? 1 : 0);
  glfwSetWindowUserPointer(window_, this);
  glfwSetDropCallback(window_, [](GLFWwindow* w, int count, const char** paths) {
    if (count > 0) static_cast<Viewer*>(glfwGetWindowUserPointer(w))->on_drop(paths[0]);
  });
  IMGUI_CHECKVERSION();
  ImGui::CreateContext();
  ImGui::GetIO().IniFilename = nullptr;
  ImGui::StyleColorsDark();
  ImGui_ImplGlfw_InitForOpenGL(window_, true);
  // Replaces the backend's key and character callbacks (the wrappers call them): see InputTrickle.
  glfwSetKeyCallback(window_, [](GLFWwindow* w, int key, int scancode, int action, int mods) {
    if (static_cast<Viewer*>(glfwGetWindowUserPointer(w))->trickle_.on_key(key, scancode, action, mods))
      InputTrickle::give_key(w, key, scancode, action, mods);
  });
  glfwSetCharCallback(window_, [](GLFWwindow* w, unsigned int c) {
    if (static_cast<Viewer*>(glfwGetWindowUserPointer(w))->trickle_.on_char(c))
      ImGui_ImplGlfw_CharCallback(w, c);
  });
  ImGui_ImplOpenGL3_Init("#version 130");
  layout();

  if (!opt_.slide.empty()) {
    if (!opened) {
      exit_code_ = 2;
      quit_ = !script_.empty() || !opt_.screenshot.empty();
    } else if (!opt_.results.empty()) {
      load_results(opt_.results, LoadedResults::Asked::CommandLine);
    }
  }
  bool screenshot_done = opt_.screenshot.empty();
  while (!quit_ && (!glfwWindowShouldClose(window_) || !may_close())) {
    wait_for_work();
    // The frame's work only: the wait above is idle time (an idle viewer showed 260 ms frames before session
    // 25).
    const auto t0 = Clock::now();
    const double cpu0 = process_cpu_ms();
    run_browser_choice();
    run_leave();
    if (!dropped_.empty()) {
      const std::string p = dropped_;
      dropped_.clear();
      // A dropped folder with cells is a result folder; anything else is a slide or image.
      if (std::filesystem::is_directory(p)) {
        load_results(p);
      } else {
        open(p);
      }
    }
    ++frame_;
    layout();
    read_layout();  // the layout may change while the viewer runs
    trickle_.before_new_frame(window_);
    ImGui_ImplOpenGL3_NewFrame();
    ImGui_ImplGlfw_NewFrame();
    if (!script_.empty()) {
      // A scripted session is its script alone: the display's real pointer, wherever it is, neither hovers a
      // widget nor opens a tooltip over the panel in its screenshots. The script's pointer goes to the
      // canvas.
      ImGuiIO& io = ImGui::GetIO();
      io.MousePos = ImVec2(-FLT_MAX, -FLT_MAX);
      std::fill(std::begin(io.MouseDown), std::end(io.MouseDown), false);
      io.MouseWheel = io.MouseWheelH = 0.0f;
    }
    ImGui::NewFrame();
    trickle_.after_new_frame();
    if (!script_.empty()) {
      if (!script_step() && pending_screenshot_.empty()) quit_ = true;
    } else {
      frame_input();
    }
    input_.follow_view(view_);  // the status line and tooltip read the slide point under the pointer
    poll_scoring();
    poll_results();
    finish_export(false);
    update_tiles();
    draw_canvas();
    draw_panel();
    draw_status();
    draw_file_browser();
    draw_close_dialog();
    draw_score_dialog();
    if (hover_cell_ >= 0) hover_cell_ = -1;
    const std::optional<cv::Point2d> at = pointer_on_slide();
    if (at && results_.table.size() > 0 && script_.empty()) {
      const int i = hit_test(results_.table, grid_, *at, 3 * view_.downsample);
      if (i >= 0) {
        hover_cell_ = i;
        ImGui::BeginTooltip();
        ImGui::Text(
            "Cell %lld: %s%s", static_cast<long long>(results_.table.cells[i].id),
            state_.deleted[i] ? "false detection" : std::string(class_name(state_.classes[i])).c_str(),
            state_.classes[i] != state_.automatic[i] ? " (corrected)" : "");
        for (std::size_t j = 0; j < results_.table.names.size(); ++j) {
          if (results_.table.names[j].find("DAB") != std::string::npos) {
            ImGui::Text("%s: %.3f", results_.table.names[j].c_str(), results_.table.columns[j][i]);
          }
        }
        ImGui::EndTooltip();
      }
    }
    ImGui::Render();
    int fw, fh;
    glfwGetFramebufferSize(window_, &fw, &fh);
    glViewport(0, 0, fw, fh);
    glClearColor(235 / 255.0f, 235 / 255.0f, 235 / 255.0f, 1.0f);  // the canvas background
    glClear(GL_COLOR_BUFFER_BIT);
    ImGui_ImplOpenGL3_RenderDrawData(ImGui::GetDrawData());
    evict_textures();  // after drawing: textures of this frame are never deleted under it
    check_pixels();
    if (!pending_screenshot_.empty()) {
      write_screenshot(pending_screenshot_);
      pending_screenshot_.clear();
    }
    if (first_full_view_ms_ < 0 && full_view_ready()) {
      glFinish();
      first_full_view_ms_ = ms_since(open_time_);
      std::printf("first full view: %.0f ms after open, %.0f ms after process start\n", first_full_view_ms_,
                  ms_since(kProcessStart));
      std::fflush(stdout);
    }
    // A read error is in the status line before the picture is taken (the tile may have failed after this
    // frame's update_tiles).
    const bool error_shown = !loader_ || loader_->last_error().empty() || !read_error_.empty();
    if (!screenshot_done && first_full_view_ms_ >= 0 && !loading_.valid() && full_view_ready() &&
        error_shown) {
      write_screenshot(opt_.screenshot);  // with the cells when results were given
      screenshot_done = true;
      if (script_.empty()) quit_ = true;
      // What was there is in the picture, but it is not the slide: a batch of screenshots must notice.
      if (!read_error_.empty()) exit_code_ = 2;
    }
    glfwSwapBuffers(window_);
    if (bench_.frames_left > 0) glFinish();  // count the rendering, not just its submission
    last_frame_ms_ = ms_since(t0);
    last_frame_cpu_ms_ = process_cpu_ms() - cpu0;
    if (review_unsaved() &&
        std::chrono::duration<double>(Clock::now() - last_save_try_).count() >= opt_.autosave_seconds) {
      save(false);
    }
  }
  if (!screenshot_done && slide_) write_screenshot(opt_.screenshot);
  if (job_running_) {
    job_cancel_ = true;
    job_.join();
  }
  if (!close_.discard) save(true);
  finish_export(true);
  close_slide();
  g_glfw_up = false;
  ImGui_ImplOpenGL3_Shutdown();
  ImGui_ImplGlfw_Shutdown();
  ImGui::DestroyContext();
  glfwDestroyWindow(window_);
  glfwTerminate();
  return exit_code_;
}

int run_viewer(const ViewerOptions& options) {
  // Tiles (768 KB decoded, 1 MB as llvmpipe textures) come and go while panning. A fixed mmap threshold gives
  // each back to the system when freed; glibc's default raises the threshold after the first frees and keeps
  // them in a heap that fragments and grows by tens of MB per minute of panning.
  mallopt(M_MMAP_THRESHOLD, 256 * 1024);
  ParamSet start;
  try {
    start = params_over_preset(options.preset, options.params_file);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ihcview: %s\n", e.what());
    return 1;
  }
  Viewer v(options, start);
  return v.run();
}

}  // namespace ihc::gui
