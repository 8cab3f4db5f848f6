// Posts the form at once, as an LMS's authorization endpoint does (form_post); the button stays for no-script.
document.getElementById("autosubmit").submit();
