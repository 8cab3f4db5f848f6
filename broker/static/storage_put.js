// The login's page: stores the launch's nonce under its state's key in the platform's storage, then goes on
// to the platform (also when the storage cannot be reached: the cookie may still bind the launch).
(function () {
  var settings = document.getElementById("lti-storage").dataset;
  function goOn() {
    window.location.replace(settings.next);
  }
  var storage = storageFrame(settings);
  if (!storage) {
    goOn();
    return;
  }
  var message = {subject: "lti.put_data", key: settings.key, value: settings.value};
  askStorage(storage, settings, message, "lti.put_data.response", goOn);
})();
