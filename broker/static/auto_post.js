// Posts the page's one form as soon as it loads; without script, its Continue button does.
document.forms[0].submit();
