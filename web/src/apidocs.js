// The REST reference page's bundle (loaded on /api/docs only): Swagger
// UI over our own OpenAPI document, with no call to any other site (the
// online validator is off).
import SwaggerUIBundle from "swagger-ui-dist/swagger-ui-bundle.js";
import "swagger-ui-dist/swagger-ui.css";

const root = document.getElementById("api-docs");
SwaggerUIBundle({
  domNode: root,
  url: root.dataset.spec || "/api/v1/openapi.json",
  deepLinking: true,
  validatorUrl: null,
  presets: [SwaggerUIBundle.presets.apis],
  layout: "BaseLayout",
  withCredentials: true,
  onComplete: () => { root.dataset.ready = "true"; },
});
