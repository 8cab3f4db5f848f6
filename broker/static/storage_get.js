// The launch's page: reads the state's key back from the platform's storage and posts the form again with
// the value as the proof (an empty proof, refused, when the storage cannot be reached).
(function () {
  var form = document.getElementById("lti-storage");
  var settings = form.dataset;
  function post(answer) {
    form.elements[settings.proofField].value = answer && typeof answer.value === "string" ? answer.value : "";
    form.submit();
  }
  var storage = storageFrame(settings);
  if (!storage) {
    post(null);
    return;
  }
  askStorage(storage, settings, {subject: "lti.get_data", key: settings.key}, "lti.get_data.response", post);
})();
