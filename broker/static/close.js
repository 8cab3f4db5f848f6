// Tells the LMS the registration is over (LTI-DR step 4), at once and again when the Close button is pressed.
// The target origin is '*': the LMS page's origin is not knowable (Canvas and Blackboard serve their
// configuration from another host), and the message holds no secret.
(function () {
  var lms = window.opener || window.parent;
  function close() {
    lms.postMessage({subject: "org.imsglobal.lti.close"}, "*");
  }
  close();
  var button = document.getElementById("close");
  if (button) {
    button.addEventListener("click", close);
  }
})();
