// The LTI Client Side postMessages storage, shared by the login's and the launch's page (each page's script
// follows this one in the same inline script). A page's element #lti-storage says, in data-* attributes,
// where the platform's storage frame is (data-target), the only origin to talk to (data-origin) and how long
// to wait for an answer (data-timeout, in milliseconds).

// The platform's storage: {frame, origin}, the origin being the one messages go to and answers must come
// from; null when it cannot be reached. The named frame is on the platform's origin. Where the LMS names a
// frame its page does not hold (Canvas's rich content editor), Canvas documents posting to the window that
// holds the tool with '*' (its page answers from its own origin, which the tool cannot know): then only
// answers from that very window count. Either way the proof is good for one launch only: the state is
// single-use.
function storageFrame(settings) {
  if (settings.target === "_parent") {
    return {frame: window.parent, origin: settings.origin};
  }
  var holder = window.opener || window.parent;
  var named = null;
  try {
    named = holder.frames[settings.target] || null;
  } catch (error) {
    // A cross-origin window throws for a name it holds no frame by.
  }
  if (named) {
    return {frame: named, origin: settings.origin};
  }
  return holder && holder !== window ? {frame: holder, origin: "*"} : null;
}

// Asks the storage one question and calls done once: with the answer, or with null when the storage errs,
// stays silent too long or cannot be reached. Answers from anywhere else are ignored.
function askStorage(storage, settings, message, answerSubject, done) {
  var id = message.subject + "-" + Math.random().toString(36).slice(2);
  var over = false;
  function end(answer) {
    if (!over) {
      over = true;
      done(answer);
    }
  }
  function fromStorage(event) {
    return storage.origin === "*" ? event.source === storage.frame : event.origin === storage.origin;
  }
  message.message_id = id;
  setTimeout(function () { end(null); }, Number(settings.timeout));
  window.addEventListener("message", function (event) {
    var answer = event.data || {};
    if (!fromStorage(event) || answer.subject !== answerSubject || answer.message_id !== id) {
      return;
    }
    end(answer.error ? null : answer);
  });
  try {
    storage.frame.postMessage(message, storage.origin);
  } catch (error) {
    end(null);
  }
}
