// Starts Swagger UI on the owlette API document. It lives in its own file,
// not inline in the page, so the page works under a Content-Security-Policy
// without 'unsafe-inline' scripts. The document's URL comes from the page
// (data-spec-url), which the server fills in.
(function () {
  "use strict";
  var root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.getAttribute("data-spec-url"),
    domNode: root,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
    deepLinking: true,
    tryItOutEnabled: true,
    persistAuthorization: true,
    displayOperationId: true,
    displayRequestDuration: true,
    filter: true,
    showExtensions: true,
    showCommonExtensions: true,
    // No call to the public validator service: the page works offline.
    validatorUrl: null
  });
})();
