// Package dashboard is the dashboard document: a team's named grid of
// widgets over its pipelines, stored as a plain JSON document and decoded
// as strictly as a pipeline spec (see package pipeline): unknown fields,
// repeated keys and values of the wrong type are refused, and every
// problem is reported with its path ("widgets[2].series[0].aggregate").
//
// A dashboard has a name, an optional description, a default time range
// (live, 15m, 1h, 24h, 7d, 30d) and up to MaxWidgets widgets on a grid of
// Columns columns: a line chart of up to MaxSeries series, a single stat
// of one series with its sparkline, or a table of a pipeline's latest
// records. A series is a pipeline, a top-level numeric field of its
// records, an aggregate and an optional bucket width.
//
// Widgets name pipelines in one of two ways, which Parse is told: by id in
// the API (RefIDs), where a renamed pipeline stays on its dashboards, and
// by name in pipeline files (RefNames), which are written by people and
// exported from one team to another. MapPipelines rewrites one form into
// the other.
//
// The package checks the document alone. Whether the pipelines exist and
// belong to the team is for the service (internal/orchestrator), which
// also reads the widgets' data.
package dashboard
