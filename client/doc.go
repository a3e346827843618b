// Package client is the Go client of the Tributary REST API (/api/v1).
//
// A Client is made with New from the server's base URL and an API token,
// sent as a bearer token on every request:
//
//	c, err := client.New("https://tributary.example.com", os.Getenv("TRIBUTARY_TOKEN"))
//	ps, err := c.ListPipelines(ctx)
//
// Every method maps to one operation of the OpenAPI document the server
// publishes at /api/v1/openapi.json (the operation id is named in the
// method's doc comment); a test fetches the document from a live server and
// fails when the two disagree. The request and response types are the
// package's own: pipeline specs travel as raw JSON (json.RawMessage), as
// the server keeps them.
//
// An error the server answers is an *Error decoded from its RFC 9457
// problem+json body, with the status, the detail, every item of errors[]
// and the request id to quote to an operator:
//
//	var apiErr *client.Error
//	if errors.As(err, &apiErr) && apiErr.Status == http.StatusNotFound { ... }
//
// Two operations are not plain request/response: the live stream of a
// pipeline's records (Server-Sent Events), read with StreamRecords or
// followed with reconnects by Follow, and file uploads, which stream a
// file of any size with a progress callback (Upload) and then report the
// server's processing (WaitUpload).
package client
