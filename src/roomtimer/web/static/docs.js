// GET /api/docs: the API's OpenAPI document, rendered by the stock Swagger UI that
// roomtimer serves itself (no CDN: venues are often offline).
"use strict";

window.addEventListener("DOMContentLoaded", () => {
  window.SwaggerUIBundle({
    url: new URL("openapi.json", window.location.href).href,
    dom_id: "#docs",
    deepLinking: true,
    // Swagger UI would otherwise send the document to swagger.io to be validated.
    validatorUrl: null,
  });
});
