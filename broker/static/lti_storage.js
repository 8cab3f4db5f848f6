// The LTI Client Side postMessages storage, shared by the login's and the launch's page (each page's script
// follows this one in the same inline script). A page's element #lti-storage says, in data-* attributes,
// where the platform's storage frame is (data-target), the only origin to talk to (data-origin) and how long
// to wait for an answer (data-timeout, in milliseconds).

// The platform's storage frame, or null when it cannot be reached.
function storageFrame(target) {
  try {
    if (target === "_parent") {
      return window.parent;
    }
    return (window.opener || window.parent).frames[target] || null;
  } catch (error) {
    return null;
  }
}

// Asks the storage frame one question and calls done once: with the answer, or with null when the frame errs,
// stays silent too long or cannot be reached. Messages go to the platform's origin only, never to '*' (they
// carry the launch's nonce), and answers from any other origin are ignored.
function askStorage(frame, settings, message, answerSubject, done) {
  var id = message.subject + "-" + Math.random().toString(36).slice(2);
  var over = false;
  function end(answer) {
    if (!over) {
      over = true;
      done(answer);
    }
  }
  message.message_id = id;
  setTimeout(function () { end(null); }, Number(settings.timeout));
  window.addEventListener("message", function (event) {
    var answer = event.data || {};
    if (event.origin !== settings.origin || answer.subject !== answerSubject || answer.message_id !== id) {
      return;
    }
    end(answer.error ? null : answer);
  });
  try {
    frame.postMessage(message, settings.origin);
  } catch (error) {
    end(null);
  }
}
