// The companion page without a reload: posts the message to the JSON API
// with the session's CSRF token and appends both sides of the exchange.
// Without this script the form posts normally and the page re-renders.
(function () {
  "use strict";
  var form = document.getElementById("chat-form");
  var log = document.getElementById("chat-log");
  var meta = document.querySelector('meta[name="csrf-token"]');
  if (!form || !log || !meta || !window.fetch) return;
  var box = document.getElementById("message");
  var conv = document.getElementById("conversation_id");
  var err = document.getElementById("message-err");
  var crisis = document.getElementById("chat-crisis");
  var button = form.querySelector('button[type="submit"]');

  function append(role, text) {
    var li = document.createElement("li");
    li.className = "msg " + (role === "user" ? "user" : "assistant");
    var who = document.createElement("span");
    who.className = "who";
    who.textContent = role === "user" ? "You:" : "Companion:";
    var body = document.createElement("span");
    body.className = "text";
    body.textContent = " " + text;
    li.appendChild(who);
    li.appendChild(body);
    log.appendChild(li);
  }

  function showError(text) {
    err.textContent = text;
    err.hidden = !text;
    if (text) box.setAttribute("aria-invalid", "true");
    else box.removeAttribute("aria-invalid");
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var message = box.value;
    if (!message.trim()) { showError("Write a message first."); return; }
    var payload = { message: message };
    var id = parseInt(conv.value, 10);
    if (id > 0) payload.conversation_id = id;
    button.disabled = true;
    fetch("/api/therapy/chat", {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": meta.content },
      body: JSON.stringify(payload)
    }).then(function (res) {
      if (res.status === 401) {
        // Keep the words: the session ended, the message should not vanish.
        showError("Your session has ended. Copy your message, then log in again: /login");
        return null;
      }
      return res.json().then(function (body) { return { ok: res.ok, body: body }; });
    }).then(function (result) {
      if (!result) return;
      // A refused message can still have raised an alert: show the crisis
      // panel whenever the answer carries a risk, refusal or not.
      var risky = result.body.risk && result.body.risk.level !== "none";
      if (risky && crisis) { crisis.hidden = false; }
      if (!result.ok) {
        showError(result.body.message || "Your message was not sent.");
        if (risky && crisis) crisis.focus();
        return;
      }
      showError("");
      append("user", result.body.message.content);
      append("assistant", result.body.reply.content);
      conv.value = String(result.body.conversation_id);
      box.value = "";
      if (risky && crisis) crisis.focus();
    }).catch(function () {
      showError("Your message could not be sent. Check your connection and try again.");
    }).then(function () { button.disabled = false; });
  });
})();
