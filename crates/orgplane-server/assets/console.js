// The console's only script besides htmx: htmx settings, and the organization switcher's
// search box. Everything works without it, just with full page loads.
document.addEventListener("DOMContentLoaded", function () {
  if (window.htmx) {
    // Forms sent back with errors answer 422: show them in place like any page.
    htmx.config.responseHandling = [
      { code: "204", swap: false },
      { code: "[23]..", swap: true },
      { code: "4..", swap: true, error: false },
      { code: "...", swap: true, error: true },
    ];
  }
});
document.addEventListener("input", function (e) {
  var box = e.target;
  if (!box.matches || !box.matches("[data-filter]")) return;
  var needle = box.value.toLowerCase();
  document.querySelectorAll(box.getAttribute("data-filter")).forEach(function (el) {
    el.hidden = needle !== "" && el.textContent.toLowerCase().indexOf(needle) < 0;
  });
});

// Security keys: the API's creation options carry binary fields as base64url; the browser
// wants ArrayBuffers, and the API wants the credential back as base64url JSON.
function b64urlToBuffer(s) {
  var b = atob(s.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(s.length / 4) * 4, "="));
  return Uint8Array.from(b, function (c) { return c.charCodeAt(0); }).buffer;
}
function bufferToB64url(buf) {
  var s = String.fromCharCode.apply(null, new Uint8Array(buf));
  return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}
document.addEventListener("click", async function (e) {
  var button = e.target.closest && e.target.closest("#add-key");
  if (!button) return;
  var status = document.getElementById("key-status");
  var headers = { "Content-Type": "application/json", "X-CSRF-Token": button.dataset.csrf };
  try {
    var start = await (await fetch("/console/security/keys/start", { method: "POST", headers: headers, body: "{}" })).json();
    var item = start.response.items[0];
    var pk = item.options.publicKey;
    pk.challenge = b64urlToBuffer(pk.challenge);
    pk.user.id = b64urlToBuffer(pk.user.id);
    (pk.excludeCredentials || []).forEach(function (c) { c.id = b64urlToBuffer(c.id); });
    var cred = await navigator.credentials.create({ publicKey: pk });
    var body = {
      challengeId: item.challengeId,
      name: document.getElementById("key-name").value,
      credential: {
        id: cred.id, rawId: bufferToB64url(cred.rawId), type: cred.type,
        response: {
          attestationObject: bufferToB64url(cred.response.attestationObject),
          clientDataJSON: bufferToB64url(cred.response.clientDataJSON),
        },
      },
    };
    var done = await (await fetch("/console/security/keys/finish", { method: "POST", headers: headers, body: JSON.stringify(body) })).json();
    if (done.response.errors) throw new Error(done.response.errors[0].message);
    window.location.reload();
  } catch (err) {
    status.textContent = "The key was not added: " + err.message;
  }
});

// Signing in with a security key at the second-factor step: the challenge comes from the
// API (through the console, with the email and password the form holds), the browser signs
// it, and the form is sent with the key's answer instead of a code.
document.addEventListener("click", async function (e) {
  var button = e.target.closest && e.target.closest("#use-key");
  if (!button) return;
  var form = button.form;
  var status = document.getElementById("key-status");
  try {
    var body = new URLSearchParams({ email: form.email.value, password: form.password.value });
    var start = await (await fetch("/console/signin/key", { method: "POST", body: body })).json();
    if (start.response.errors) throw new Error(start.response.errors[0].message);
    var item = start.response.items[0];
    var pk = item.options.publicKey;
    pk.challenge = b64urlToBuffer(pk.challenge);
    (pk.allowCredentials || []).forEach(function (c) { c.id = b64urlToBuffer(c.id); });
    var cred = await navigator.credentials.get({ publicKey: pk });
    form.webauthnChallengeId.value = item.challengeId;
    form.webauthnResponse.value = JSON.stringify({
      id: cred.id, rawId: bufferToB64url(cred.rawId), type: cred.type,
      response: {
        authenticatorData: bufferToB64url(cred.response.authenticatorData),
        clientDataJSON: bufferToB64url(cred.response.clientDataJSON),
        signature: bufferToB64url(cred.response.signature),
        userHandle: cred.response.userHandle ? bufferToB64url(cred.response.userHandle) : null,
      },
    });
    form.requestSubmit();
  } catch (err) {
    status.textContent = "The security key did not sign you in: " + err.message;
  }
});
