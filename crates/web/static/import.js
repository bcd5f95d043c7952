// Drag and drop onto the upload box: the dropped file becomes the form's file and is sent.
(function () {
  var zone = document.getElementById("dropzone");
  var input = document.getElementById("file");
  if (!zone || !input) return;
  ["dragenter", "dragover"].forEach(function (t) {
    zone.addEventListener(t, function (e) { e.preventDefault(); zone.classList.add("over"); });
  });
  ["dragleave", "drop"].forEach(function (t) {
    zone.addEventListener(t, function () { zone.classList.remove("over"); });
  });
  zone.addEventListener("drop", function (e) {
    e.preventDefault();
    if (!e.dataTransfer || !e.dataTransfer.files.length) return;
    input.files = e.dataTransfer.files;
    document.getElementById("upload-form").requestSubmit();
  });
})();
