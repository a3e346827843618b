// The GraphiQL page's bundle (loaded on /graphiql only): GraphiQL over
// our own /graphql endpoint, queries and mutations with POST (the
// session cookie authenticates them, same origin), subscriptions over
// graphql-transport-ws on the same path.
import React from "react";
import { createRoot } from "react-dom/client";
import { GraphiQL } from "graphiql";
import { createClient } from "graphql-ws";
import "graphiql/style.css";
import "./graphiql.css";

const root = document.getElementById("graphiql");
const endpoint = root.dataset.endpoint || "/graphql";
const wsURL = new URL(endpoint, location.href);
wsURL.protocol = wsURL.protocol === "https:" ? "wss:" : "ws:";

let ws;
function socket() {
  ws ??= createClient({ url: wsURL.href, lazy: true });
  return ws;
}

function isSubscription(params) {
  const src = params.query || "";
  if (params.operationName) {
    return new RegExp("subscription\\s+" + params.operationName + "\\b").test(src);
  }
  return /^\s*subscription\b/m.test(src.replace(/#[^\n]*/g, ""));
}

async function post(params) {
  const res = await fetch(endpoint, {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", Accept: "application/json" },
    body: JSON.stringify(params),
  });
  const text = await res.text();
  try {
    return JSON.parse(text);
  } catch {
    return { errors: [{ message: `${res.status} ${res.statusText}: ${text}` }] };
  }
}

// fetcher answers GraphiQL: a promise for queries and mutations, an
// async iterator for subscriptions.
function fetcher(params) {
  if (isSubscription(params)) {
    return socket().iterate(params);
  }
  return post(params);
}

createRoot(root).render(
  React.createElement(GraphiQL, {
    fetcher,
    defaultQuery: "# Queries run as the signed-in user (or send an API token from a script).\n{\n  me {\n    user {\n      email\n    }\n    teams {\n      role\n    }\n  }\n}\n",
    shouldPersistHeaders: false,
  }),
);
root.dataset.ready = "true";
