// The demo LMS page: when the registration in the frame posts the LTI close message (from our own origin),
// the registration frame gives way to the launch step, as an LMS closes its registration dialog.
(function () {
  "use strict";
  window.addEventListener("message", function (event) {
    var data = event.data || {};
    if (event.origin !== window.location.origin || data.subject !== "org.imsglobal.lti.close") { return; }
    document.getElementById("registration").hidden = true;
    var launch = document.getElementById("launch");
    launch.hidden = false;
    document.getElementById("closed").textContent = "The registration page asked to close: the tool is registered.";
    launch.querySelector("a").focus();
  });
})();
