// The operator console of the call centre (1900 1075). Plain JS, no framework, no external
// asset. Every string that comes from the server or from the operator is inserted with
// textContent (never as HTML), so markup typed into a field shows as text and never runs.
"use strict";

(function () {
  var TOKEN_KEY = "hue-console-token";     // sessionStorage: gone when the tab closes
  var DRAFT_KEY = "hue-console-draft";     // localStorage: survives a reload or a crash
  var LANG_KEY = "hue-console-lang";
  var CHECK_DELAY_MS = 400;
  var FIELDS = ["call_id", "caller_number", "caller_name", "caller_email", "consent", "address",
    "lat", "lon", "urgent", "category", "transcript", "summary", "in_reply_to"];
  var CHECKBOXES = { consent: true, urgent: true };

  var DICT = {
    vi: {
      title: "Tổng đài 1900 1075 — Bàn điều hành",
      logout: "Đăng xuất",
      lang_toggle: "English",
      login_heading: "Đăng nhập",
      token_label: "Mã truy cập của điều hành viên",
      login_button: "Đăng nhập",
      login_empty: "Nhập mã truy cập.",
      login_rejected: "Mã truy cập không hợp lệ hoặc đã bị thu hồi.",
      session_expired: "Phiên làm việc hết hiệu lực, hãy đăng nhập lại.",
      call_heading: "Cuộc gọi",
      call_id: "Mã cuộc gọi",
      caller: "Người gọi",
      caller_number: "Số điện thoại người gọi",
      caller_name: "Họ tên",
      caller_email: "Email",
      consent: "Người gọi đồng ý cho cơ quan xử lý biết thông tin liên hệ",
      place: "Địa điểm",
      address: "Địa chỉ (phường/xã)",
      lat: "Vĩ độ (tùy chọn)",
      lon: "Kinh độ (tùy chọn)",
      matter: "Sự việc",
      urgent: "Khẩn cấp",
      category: "Lĩnh vực",
      cat_none: "— chưa chọn —",
      cat_waste: "Rác thải, vệ sinh môi trường",
      cat_urban_order: "Trật tự đô thị",
      cat_roads: "Đường sá, giao thông",
      cat_lighting_power: "Chiếu sáng, điện",
      cat_water_supply: "Cấp nước",
      cat_drainage_flooding: "Thoát nước, ngập úng",
      cat_trees: "Cây xanh",
      cat_noise_security: "Tiếng ồn, an ninh trật tự",
      cat_natural_hazard: "Thiên tai",
      cat_animals_health: "Động vật, y tế",
      cat_heritage_tourism: "Di tích, du lịch",
      cat_telecom: "Viễn thông",
      cat_public_services: "Dịch vụ công",
      cat_other: "Khác",
      transcript: "Nội dung cuộc gọi (ghi lời người gọi)",
      summary: "Tóm tắt (tùy chọn)",
      in_reply_to: "Gọi lại về phản ánh (mã HUE-…, tùy chọn)",
      submit: "Gửi phản ánh",
      submit_hint: "Ctrl+Enter để gửi",
      sending: "Đang gửi…",
      discard: "Xóa bản nháp",
      discard_confirm: "Xóa toàn bộ nội dung cuộc gọi đang nhập?",
      check_heading: "Kiểm tra trực tiếp",
      check_idle: "Nhập nội dung cuộc gọi để kiểm tra.",
      check_running: "Đang kiểm tra…",
      check_done: "Đã kiểm tra.",
      check_failed: "Không kiểm tra được: ",
      out_of_scope: "Ngoài phạm vi tiếp nhận",
      script_label: "Đọc cho người gọi:",
      missing: "Còn thiếu",
      missing_none: "Không thiếu gì",
      disposition: "Xử lý",
      night_window: "Khung giờ đêm",
      language: "Ngôn ngữ",
      ward: "Phường/xã",
      urgency: "Mức khẩn",
      reply: "Trả lời người gọi",
      yes: "Có",
      no: "Không",
      m_description: "Mô tả sự việc",
      m_location: "Địa điểm",
      m_time: "Thời gian",
      m_name: "Họ tên",
      m_phone: "Số điện thoại",
      m_email: "Email",
      d_accepted: "Tiếp nhận",
      d_deferred: "Hoãn xử lý (chuyển sau)",
      d_incomplete: "Thiếu thông tin",
      d_rejected: "Từ chối",
      deliver_after: "chuyển sau",
      w_found: "Xác định được",
      w_ambiguous: "Chưa rõ (nhiều phường/xã trùng tên)",
      w_not_found: "Không tìm thấy",
      w_none: "Chưa có địa chỉ",
      u_immediate: "Khẩn cấp ngay",
      u_high: "Cao",
      u_normal: "Bình thường",
      u_low: "Thấp",
      result_heading: "Đã tiếp nhận — đọc mã cho người gọi",
      new_call: "Cuộc gọi mới",
      lookup_heading: "Tra cứu tình trạng",
      lookup_label: "Mã theo dõi",
      lookup_button: "Tra cứu",
      lookup_not_found: "Không có phản ánh với mã này.",
      lookup_empty: "Nhập mã theo dõi.",
      bad_number: "Phải là một số (ví dụ 16.4637).",
      network_error: "Lỗi mạng, hãy thử lại (bản nháp vẫn được giữ).",
      f_tracking_code: "Mã theo dõi",
      f_kind: "Loại",
      f_channel: "Kênh",
      f_status: "Tình trạng",
      f_received_at: "Tiếp nhận lúc",
      f_disposition: "Xử lý",
      f_in_reply_to: "Phản ánh gốc",
      f_delivered_at: "Chuyển đi lúc",
      former: "tên cũ: "
    },
    en: {
      title: "Hotline 1900 1075 — Operator console",
      logout: "Log out",
      lang_toggle: "Tiếng Việt",
      login_heading: "Log in",
      token_label: "Operator token",
      login_button: "Log in",
      login_empty: "Enter the token.",
      login_rejected: "The token is not valid or was revoked.",
      session_expired: "Session expired; log in again.",
      call_heading: "Call",
      call_id: "Call id",
      caller: "Caller",
      caller_number: "Caller's phone number",
      caller_name: "Name",
      caller_email: "Email",
      consent: "The caller agrees to share contact details with the handling agency",
      place: "Place",
      address: "Address (ward/commune)",
      lat: "Latitude (optional)",
      lon: "Longitude (optional)",
      matter: "Matter",
      urgent: "Urgent",
      category: "Category",
      cat_none: "— not chosen —",
      cat_waste: "Waste, sanitation",
      cat_urban_order: "Urban order",
      cat_roads: "Roads, traffic",
      cat_lighting_power: "Lighting, power",
      cat_water_supply: "Water supply",
      cat_drainage_flooding: "Drainage, flooding",
      cat_trees: "Trees",
      cat_noise_security: "Noise, security",
      cat_natural_hazard: "Natural hazard",
      cat_animals_health: "Animals, health",
      cat_heritage_tourism: "Heritage, tourism",
      cat_telecom: "Telecom",
      cat_public_services: "Public services",
      cat_other: "Other",
      transcript: "Transcript (the caller's words)",
      summary: "Summary (optional)",
      in_reply_to: "Follow-up on report (HUE-… code, optional)",
      submit: "Submit report",
      submit_hint: "Ctrl+Enter submits",
      sending: "Sending…",
      discard: "Discard draft",
      discard_confirm: "Discard everything typed for this call?",
      check_heading: "Live check",
      check_idle: "Type the transcript to check the call.",
      check_running: "Checking…",
      check_done: "Checked.",
      check_failed: "Check failed: ",
      out_of_scope: "Out of scope",
      script_label: "Read to the caller:",
      missing: "Missing",
      missing_none: "Nothing missing",
      disposition: "Disposition",
      night_window: "Night window",
      language: "Language",
      ward: "Ward",
      urgency: "Urgency",
      reply: "Reply to the caller",
      yes: "Yes",
      no: "No",
      m_description: "Description",
      m_location: "Location",
      m_time: "Time",
      m_name: "Name",
      m_phone: "Phone",
      m_email: "Email",
      d_accepted: "Accepted",
      d_deferred: "Deferred",
      d_incomplete: "Incomplete",
      d_rejected: "Rejected",
      deliver_after: "deliver after",
      w_found: "Found",
      w_ambiguous: "Ambiguous (several wards match)",
      w_not_found: "Not found",
      w_none: "No address yet",
      u_immediate: "Immediate",
      u_high: "High",
      u_normal: "Normal",
      u_low: "Low",
      result_heading: "Received — read the code to the caller",
      new_call: "New call",
      lookup_heading: "Status lookup",
      lookup_label: "Tracking code",
      lookup_button: "Look up",
      lookup_not_found: "No report has this code.",
      lookup_empty: "Enter a tracking code.",
      bad_number: "Must be a number (e.g. 16.4637).",
      network_error: "Network error; try again (the draft is kept).",
      f_tracking_code: "Tracking code",
      f_kind: "Kind",
      f_channel: "Channel",
      f_status: "Status",
      f_received_at: "Received at",
      f_disposition: "Disposition",
      f_in_reply_to: "Follow-up of",
      f_delivered_at: "Delivered at",
      former: "formerly: "
    }
  };

  var lang = "vi";
  var checkTimer = null;
  var checkSeq = 0;
  var lastCheck = null;
  var lastResult = null;
  var wards = [];
  var submitting = false;

  function $(id) { return document.getElementById(id); }

  function t(key) {
    var table = DICT[lang] || DICT.vi;
    return Object.prototype.hasOwnProperty.call(table, key) ? table[key] : key;
  }

  // A translated label for a server code, or the code itself (as text) when unknown.
  function label(prefix, code) {
    if (code === null || code === undefined) { return ""; }
    var key = prefix + String(code);
    var table = DICT[lang] || DICT.vi;
    return Object.prototype.hasOwnProperty.call(table, key) ? table[key] : String(code);
  }

  function store(kind) {
    try { return kind === "session" ? window.sessionStorage : window.localStorage; } catch (e) { return null; }
  }

  function getItem(kind, key) {
    var s = store(kind);
    try { return s ? s.getItem(key) : null; } catch (e) { return null; }
  }

  function setItem(kind, key, value) {
    var s = store(kind);
    try { if (s) { s.setItem(key, value); } } catch (e) { /* storage full or disabled */ }
  }

  function removeItem(kind, key) {
    var s = store(kind);
    try { if (s) { s.removeItem(key); } } catch (e) { /* ignore */ }
  }

  // ---- language -------------------------------------------------------------------------

  function applyLanguage() {
    document.documentElement.lang = lang;
    document.title = t("title");
    var nodes = document.querySelectorAll("[data-i18n]");
    for (var i = 0; i < nodes.length; i++) {
      nodes[i].textContent = t(nodes[i].getAttribute("data-i18n"));
    }
    var toggle = $("lang-toggle");
    toggle.textContent = t("lang_toggle");
    toggle.setAttribute("lang", lang === "vi" ? "en" : "vi");
    if (lastCheck) { renderCheck(lastCheck); } else { $("check-status").textContent = t("check_idle"); }
    if (lastResult) { renderResult(lastResult); }
  }

  function toggleLanguage() {
    lang = lang === "vi" ? "en" : "vi";
    setItem("local", LANG_KEY, lang);
    applyLanguage();
    renderWards();
  }

  // ---- auth ---------------------------------------------------------------------------

  function token() { return getItem("session", TOKEN_KEY); }

  function showApp(loggedIn) {
    $("login").hidden = loggedIn;
    $("app").hidden = !loggedIn;
    $("logout").hidden = !loggedIn;
  }

  function logout(message) {
    removeItem("session", TOKEN_KEY);
    showApp(false);
    $("login-error").textContent = message || "";
    $("token").value = "";
    $("token").focus();
  }

  function api(method, path, body, auth) {
    var headers = { "Accept": "application/json, application/problem+json" };
    if (body !== undefined) { headers["Content-Type"] = "application/json"; }
    if (auth) { headers["Authorization"] = "Bearer " + (token() || ""); }
    return fetch(path, {
      method: method,
      headers: headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "omit",
      cache: "no-store"
    }).then(function (response) {
      return response.text().then(function (text) {
        var data = null;
        if (text) { try { data = JSON.parse(text); } catch (e) { data = null; } }
        return { status: response.status, ok: response.ok, data: data };
      });
    });
  }

  function login(event) {
    event.preventDefault();
    var value = $("token").value.trim();
    $("login-error").textContent = "";
    if (!value) {
      $("token").setAttribute("aria-invalid", "true");
      $("login-error").textContent = t("login_empty");
      return;
    }
    $("token").removeAttribute("aria-invalid");
    setItem("session", TOKEN_KEY, value);
    // An empty call checked with the token: 401 for an unknown or revoked one, and nothing
    // is stored (the wards list is public, so it cannot tell).
    verifyToken().then(function (ok) {
      if (ok) {
        $("token").value = "";
        showApp(true);
        loadWards();
        focusFirstEmpty();
        scheduleCheck();
      }
    });
  }

  function verifyToken() {
    return api("POST", "/v1/hotline/check", { call_id: "", transcript: "" }, true).then(function (r) {
      if (r.status === 401) {
        logout(t("login_rejected"));
        return false;
      }
      return true;
    }, function () {
      removeItem("session", TOKEN_KEY);
      $("login-error").textContent = t("network_error");
      return false;
    });
  }

  // ---- wards (address autocomplete) -----------------------------------------------------

  function loadWards() {
    return api("GET", "/v1/hotline/wards", undefined, true).then(function (r) {
      if (r.ok && Array.isArray(r.data)) {
        wards = r.data;
        renderWards();
      }
    }, function () { /* the address field still takes free text */ });
  }

  function renderWards() {
    var list = $("wards-list");
    while (list.firstChild) { list.removeChild(list.firstChild); }
    wards.forEach(function (ward) {
      if (!ward || typeof ward.name !== "string") { return; }
      var old = Array.isArray(ward.old_names) ? ward.old_names.filter(function (n) { return typeof n === "string"; }) : [];
      var option = document.createElement("option");
      option.value = ward.name;
      // The label carries the former names, so typing an old name finds today's ward.
      option.label = old.length ? ward.name + " (" + t("former") + old.join(", ") + ")" : ward.name;
      list.appendChild(option);
      old.forEach(function (name) {
        var alias = document.createElement("option");
        alias.value = name;
        alias.label = name + " → " + ward.name;
        list.appendChild(alias);
      });
    });
  }

  // ---- the draft ----------------------------------------------------------------------

  function newCallId() {
    if (window.crypto && typeof window.crypto.randomUUID === "function") { return window.crypto.randomUUID(); }
    var bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    var hex = Array.prototype.map.call(bytes, function (b) { return (b + 0x100).toString(16).slice(1); }).join("");
    return hex.slice(0, 8) + "-" + hex.slice(8, 12) + "-" + hex.slice(12, 16) + "-" + hex.slice(16, 20) + "-" + hex.slice(20);
  }

  function readDraft() {
    var draft = {};
    FIELDS.forEach(function (name) {
      var el = $(name);
      draft[name] = CHECKBOXES[name] ? el.checked : el.value;
    });
    return draft;
  }

  function saveDraft() { setItem("local", DRAFT_KEY, JSON.stringify(readDraft())); }

  function restoreDraft() {
    var raw = getItem("local", DRAFT_KEY);
    var draft = null;
    if (raw) { try { draft = JSON.parse(raw); } catch (e) { draft = null; } }
    if (draft && typeof draft === "object") {
      FIELDS.forEach(function (name) {
        if (!Object.prototype.hasOwnProperty.call(draft, name)) { return; }
        var el = $(name);
        if (CHECKBOXES[name]) { el.checked = draft[name] === true; } else if (typeof draft[name] === "string") { el.value = draft[name]; }
      });
    }
    if (!$("call_id").value) { $("call_id").value = newCallId(); saveDraft(); }
  }

  function resetForm() {
    FIELDS.forEach(function (name) {
      var el = $(name);
      if (CHECKBOXES[name]) { el.checked = false; } else { el.value = ""; }
    });
    clearProblems();
    $("call_id").value = newCallId();
    saveDraft();
    lastCheck = null;
    renderCheck(null);
  }

  // ---- the body -----------------------------------------------------------------------

  function text(name) {
    var v = $(name).value.trim();
    return v === "" ? null : v;
  }

  function number(name, problems) {
    var raw = $(name).value.trim().replace(",", ".");
    if (raw === "") { return null; }
    var n = Number(raw);
    if (!isFinite(n)) { problems.push({ field: name, detail: t("bad_number") }); return null; }
    return n;
  }

  function callBody(problems) {
    return {
      call_id: $("call_id").value,
      caller_number: text("caller_number"),
      caller_name: text("caller_name"),
      caller_email: text("caller_email"),
      consent: $("consent").checked,
      started_at: startedAt(),
      transcript: $("transcript").value,
      summary: text("summary"),
      address: text("address"),
      lat: number("lat", problems),
      lon: number("lon", problems),
      urgent: $("urgent").checked,
      category: text("category"),
      in_reply_to: text("in_reply_to") === null ? null : text("in_reply_to").toUpperCase()
    };
  }

  // When the call started: kept with the draft (first keystroke of this call).
  var STARTED_KEY = "hue-console-started";
  function startedAt() {
    var raw = getItem("local", STARTED_KEY);
    var saved = null;
    if (raw) { try { saved = JSON.parse(raw); } catch (e) { saved = null; } }
    var id = $("call_id").value;
    if (saved && saved.call_id === id && typeof saved.at === "string") { return saved.at; }
    var at = new Date().toISOString();
    setItem("local", STARTED_KEY, JSON.stringify({ call_id: id, at: at }));
    return at;
  }

  // ---- problems -----------------------------------------------------------------------

  function clearProblems() {
    FIELDS.forEach(function (name) {
      $(name).removeAttribute("aria-invalid");
      var err = $(name + "-error");
      if (err) { err.textContent = ""; }
    });
    $("form-error").textContent = "";
  }

  function showFieldProblem(field, detail) {
    var el = field ? $(field) : null;
    var err = field ? $(field + "-error") : null;
    if (el && err && FIELDS.indexOf(field) >= 0) {
      el.setAttribute("aria-invalid", "true");
      err.textContent = detail;
      return el;
    }
    $("form-error").textContent = detail;
    return null;
  }

  // "/transcript" → "transcript"; "/location/lat" → "lat"; anything else → the general slot.
  function fieldOfPointer(pointer) {
    if (typeof pointer !== "string" || pointer.charAt(0) !== "/") { return null; }
    var parts = pointer.slice(1).split("/").map(function (p) { return p.replace(/~1/g, "/").replace(/~0/g, "~"); });
    for (var i = parts.length - 1; i >= 0; i--) {
      if (FIELDS.indexOf(parts[i]) >= 0) { return parts[i]; }
    }
    return null;
  }

  function showProblem(response) {
    var p = response.data || {};
    var detail = [p.title, p.detail].filter(function (s) { return typeof s === "string" && s; }).join(": ");
    if (!detail) { detail = "HTTP " + response.status; }
    return showFieldProblem(fieldOfPointer(p.pointer), detail);
  }

  // ---- live check ---------------------------------------------------------------------

  // data-pending on the panel: "true" from a keystroke until its check is shown (aria-busy too).
  function pending(on) {
    var panel = $("check-panel");
    panel.setAttribute("data-pending", on ? "true" : "false");
    panel.setAttribute("aria-busy", on ? "true" : "false");
  }

  function scheduleCheck() {
    pending(true);
    if (checkTimer) { clearTimeout(checkTimer); }
    checkTimer = setTimeout(runCheck, CHECK_DELAY_MS);
  }

  function runCheck() {
    checkTimer = null;
    if (!token() || $("app").hidden) { pending(false); return; }
    if (!$("transcript").value.trim() && !$("summary").value.trim()) {
      lastCheck = null;
      renderCheck(null);
      pending(false);
      return;
    }
    var problems = [];
    var body = callBody(problems);
    localProblems(problems);
    var seq = ++checkSeq;
    $("check-status").textContent = t("check_running");
    api("POST", "/v1/hotline/check", body, true).then(function (r) {
      if (seq !== checkSeq || checkTimer) { return; }  // a later check is on its way
      pending(false);
      if (r.status === 401) { logout(t("session_expired")); return; }
      if (!r.ok) {
        var p = r.data || {};
        $("check-status").textContent = t("check_failed") + (typeof p.detail === "string" ? p.detail : "HTTP " + r.status);
        var field = fieldOfPointer(p.pointer);
        if (field && typeof p.detail === "string") { showFieldProblem(field, p.detail); }
        return;
      }
      lastCheck = r.data || {};
      renderCheck(lastCheck);
    }, function () {
      if (seq === checkSeq && !checkTimer) {
        pending(false);
        $("check-status").textContent = t("check_failed") + t("network_error");
      }
    });
  }

  function localProblems(problems) {
    ["lat", "lon"].forEach(function (name) {
      $(name).removeAttribute("aria-invalid");
      $(name + "-error").textContent = "";
    });
    problems.forEach(function (p) { showFieldProblem(p.field, p.detail); });
  }

  function setText(id, value) { $(id).textContent = value === null || value === undefined ? "" : String(value); }

  function renderCheck(check) {
    var missing = $("check-missing");
    while (missing.firstChild) { missing.removeChild(missing.firstChild); }
    var scope = $("scope");
    if (!check) {
      setText("check-status", t("check_idle"));
      scope.hidden = true;
      ["check-disposition", "check-night", "check-language", "check-ward", "check-urgency", "check-reply"].forEach(function (id) { setText(id, ""); });
      return;
    }
    setText("check-status", t("check_done"));
    var items = Array.isArray(check.missing) ? check.missing : [];
    if (items.length === 0) {
      var none = document.createElement("li");
      none.className = "ok";
      none.textContent = t("missing_none");
      missing.appendChild(none);
    }
    items.forEach(function (item) {
      var li = document.createElement("li");
      li.className = "missing";
      li.setAttribute("data-missing", String(item));
      li.textContent = label("m_", item);
      missing.appendChild(li);
    });
    var oos = check.out_of_scope;
    if (oos && typeof oos === "object") {
      scope.hidden = false;
      setText("scope-reason", oos.reason);
      setText("scope-script", oos.script);
    } else {
      scope.hidden = true;
      setText("scope-reason", "");
      setText("scope-script", "");
    }
    var d = check.disposition || {};
    var disposition = label("d_", d.state);
    if (d.reason) { disposition += " — " + d.reason; }
    if (d.deliver_after) { disposition += " (" + t("deliver_after") + " " + d.deliver_after + ")"; }
    setText("check-disposition", disposition);
    $("check-disposition").setAttribute("data-state", String(d.state || ""));
    setText("check-night", check.night_window ? t("yes") : t("no"));
    $("check-night").setAttribute("data-night", check.night_window ? "true" : "false");
    setText("check-language", check.language);
    var w = check.ward || {};
    var ward = label("w_", w.state);
    if (w.name) { ward += ": " + w.name + (w.code ? " (" + w.code + ")" : ""); }
    setText("check-ward", ward);
    $("check-ward").setAttribute("data-state", String(w.state || ""));
    setText("check-urgency", label("u_", check.urgency));
    $("check-urgency").setAttribute("data-urgency", String(check.urgency || ""));
    setText("check-reply", check.reply && check.reply.text);
  }

  // ---- submit -------------------------------------------------------------------------

  function submitCall(event) {
    if (event) { event.preventDefault(); }
    if (submitting) { return; }
    clearProblems();
    var problems = [];
    var body = callBody(problems);
    if (problems.length) {
      var first = null;
      problems.forEach(function (p) { first = first || showFieldProblem(p.field, p.detail); });
      if (first) { first.focus(); }
      return;
    }
    submitting = true;
    var button = $("submit-call");
    button.disabled = true;
    button.textContent = t("sending");
    api("POST", "/v1/hotline/calls", body, true).then(function (r) {
      if (r.status === 401) { logout(t("session_expired")); return; }
      if (r.status === 202 || r.status === 200 || r.status === 201) {
        lastResult = r.data || {};
        // The call is stored: the draft goes, the next call starts clean. The form is hidden
        // first, so that the events of the field losing focus are ignored (onInput).
        $("call").hidden = true;
        if (checkTimer) { clearTimeout(checkTimer); checkTimer = null; }
        checkSeq++;
        pending(false);
        removeItem("local", DRAFT_KEY);
        removeItem("local", STARTED_KEY);
        renderResult(lastResult);
        $("check-panel").hidden = true;
        $("result").hidden = false;
        $("new-call").focus();
        return;
      }
      var el = showProblem(r);
      if (el) { el.focus(); }
    }, function () {
      $("form-error").textContent = t("network_error");
    }).then(function () {
      submitting = false;
      button.disabled = false;
      button.textContent = t("submit");
    });
  }

  function renderResult(result) {
    setText("tracking-code", result.tracking_code);
    var d = result.disposition || {};
    var disposition = label("d_", d.state);
    if (d.reason) { disposition += " — " + d.reason; }
    setText("result-disposition", disposition);
    setText("result-reply", result.reply && result.reply.text);
  }

  function newCall() {
    lastResult = null;
    resetForm();
    setText("tracking-code", "");
    $("result").hidden = true;
    $("call").hidden = false;
    $("check-panel").hidden = false;
    $("caller_number").focus();
  }

  // ---- status lookup ------------------------------------------------------------------

  function lookup(event) {
    event.preventDefault();
    var code = $("status-code").value.trim().toUpperCase();
    var out = $("status-result");
    while (out.firstChild) { out.removeChild(out.firstChild); }
    setText("status-error", "");
    $("status-code").removeAttribute("aria-invalid");
    if (!code) {
      $("status-code").setAttribute("aria-invalid", "true");
      setText("status-error", t("lookup_empty"));
      return;
    }
    api("GET", "/v1/reports/" + encodeURIComponent(code), undefined, false).then(function (r) {
      if (r.status === 404) {
        $("status-code").setAttribute("aria-invalid", "true");
        setText("status-error", t("lookup_not_found"));
        return;
      }
      if (!r.ok || !r.data || typeof r.data !== "object") {
        var p = r.data || {};
        $("status-code").setAttribute("aria-invalid", "true");
        setText("status-error", typeof p.detail === "string" ? p.detail : "HTTP " + r.status);
        return;
      }
      Object.keys(r.data).forEach(function (key) {
        var value = r.data[key];
        if (key === "disposition" && value && typeof value === "object") { value = label("d_", value.state); }
        if (value === null || value === undefined || typeof value === "object") { return; }
        var dt = document.createElement("dt");
        dt.textContent = label("f_", key);
        var dd = document.createElement("dd");
        dd.textContent = String(value);
        dd.setAttribute("data-field", key);
        out.appendChild(dt);
        out.appendChild(dd);
      });
    }, function () {
      setText("status-error", t("network_error"));
    });
  }

  // ---- wiring -------------------------------------------------------------------------

  function focusFirstEmpty() {
    var order = ["caller_number", "caller_name", "address", "transcript"];
    for (var i = 0; i < order.length; i++) {
      if (!$(order[i]).value) { $(order[i]).focus(); return; }
    }
    $("transcript").focus();
  }

  function onInput(event) {
    // Once the call is stored the form is hidden: a late "change" (focus leaving the field on
    // Ctrl+Enter) must not write the stored call back as a draft.
    if ($("call").hidden) { return; }
    var target = event.target;
    if (target && target.id && FIELDS.indexOf(target.id) >= 0) {
      target.removeAttribute("aria-invalid");
      var err = $(target.id + "-error");
      if (err) { err.textContent = ""; }
    }
    saveDraft();
    scheduleCheck();
  }

  function onKeyDown(event) {
    if (event.key !== "Enter") { return; }
    if (event.ctrlKey || event.metaKey) {
      event.preventDefault();
      submitCall();
      return;
    }
    // A plain Enter in a one-line field must not send a half-typed call.
    var tag = event.target && event.target.tagName;
    if (tag === "INPUT") { event.preventDefault(); }
  }

  function init() {
    var saved = getItem("local", LANG_KEY);
    if (saved === "en" || saved === "vi") { lang = saved; }
    restoreDraft();
    applyLanguage();
    $("lang-toggle").addEventListener("click", toggleLanguage);
    $("logout").addEventListener("click", function () { logout(""); });
    $("login-form").addEventListener("submit", login);
    var form = $("call-form");
    form.addEventListener("submit", submitCall);
    form.addEventListener("input", onInput);
    form.addEventListener("change", onInput);
    form.addEventListener("keydown", onKeyDown);
    $("discard").addEventListener("click", function () {
      if (window.confirm(t("discard_confirm"))) { resetForm(); $("caller_number").focus(); }
    });
    $("new-call").addEventListener("click", newCall);
    $("status-form").addEventListener("submit", lookup);
    if (token()) {
      showApp(true);
      loadWards();
      verifyToken().then(function (ok) { if (ok) { scheduleCheck(); } });
    } else {
      showApp(false);
      $("token").focus();
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
