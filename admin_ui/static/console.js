// Copy buttons: <button data-copy="ID" hidden> copies the value of the element with that id and says so in
// the element "ID-status". Buttons stay hidden where this script does not run (the field can still be selected).
(function () {
  "use strict";
  function copy(button) {
    var source = document.getElementById(button.getAttribute("data-copy"));
    var status = document.getElementById(button.getAttribute("data-copy") + "-status");
    if (!source) { return; }
    var text = source.value !== undefined ? source.value : source.textContent;
    function done(message) { if (status) { status.textContent = message; } }
    if (navigator.clipboard && navigator.clipboard.writeText) {
      navigator.clipboard.writeText(text).then(function () { done("Copied."); }, function () {
        source.select && source.select();
        done("Select the text and copy it with Ctrl+C (or ⌘C).");
      });
    } else {
      source.select && source.select();
      done("Select the text and copy it with Ctrl+C (or ⌘C).");
    }
  }
  document.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest("[data-copy]") : null;
    if (button) { event.preventDefault(); copy(button); }
  });
  Array.prototype.forEach.call(document.querySelectorAll("[data-copy]"), function (button) {
    button.hidden = false;
  });
})();
