package app_test

import (
	"bytes"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/tributary-dev/tributary/internal/auth"
)

type flowUpload struct {
	ID        uuid.UUID `json:"id"`
	Filename  string    `json:"filename"`
	Format    string    `json:"format"`
	Size      int64     `json:"size"`
	Status    string    `json:"status"`
	RowsTotal *int64    `json:"rows_total"`
	RowsDone  int64     `json:"rows_done"`
	Accepted  int64     `json:"accepted"`
	Rejected  int64     `json:"rejected"`
	Progress  float64   `json:"progress"`
	Error     string    `json:"error"`
}

// upload posts body to p's uploads as it is, with the Content-Type ctype,
// without a Content-Length when chunked.
func (k *flowKit) upload(p flowPipeline, query, ctype string, body []byte, chunked bool) *response {
	k.t.Helper()
	var r io.Reader = bytes.NewReader(body)
	if chunked {
		r = io.MultiReader(r)
	}
	req, err := http.NewRequest("POST", k.ts.URL+"/api/v1/pipelines/"+p.ID.String()+"/uploads"+query, r)
	must(k.t, err)
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if k.c.token != "" {
		req.Header.Set("Authorization", "Bearer "+k.c.token)
	}
	res, err := k.c.hc.Do(req)
	must(k.t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	must(k.t, err)
	return &response{t: k.t, req: "POST upload " + query, Status: res.StatusCode, Header: res.Header, Body: b}
}

// uploadForm posts a multipart form with the file in the part "file".
func (k *flowKit) uploadForm(p flowPipeline, filename, partType string, content []byte) *response {
	k.t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	must(k.t, mw.WriteField("note", "ignored"))
	h := make(map[string][]string)
	h["Content-Disposition"] = []string{fmt.Sprintf(`form-data; name="file"; filename=%q`, filename)}
	if partType != "" {
		h["Content-Type"] = []string{partType}
	}
	w, err := mw.CreatePart(h)
	must(k.t, err)
	_, _ = w.Write(content)
	must(k.t, mw.Close())
	return k.upload(p, "", mw.FormDataContentType(), buf.Bytes(), false)
}

// waitUpload polls an upload until it is done or failed.
func (k *flowKit) waitUpload(p flowPipeline, id uuid.UUID) flowUpload {
	k.t.Helper()
	var u flowUpload
	eventually(k.t, 60*time.Second, "upload "+id.String()+" finishes", func() bool {
		k.c.do("GET", "/api/v1/pipelines/"+p.ID.String()+"/uploads/"+id.String(), nil).want(http.StatusOK).json(&u)
		return u.Status == "done" || u.Status == "failed"
	})
	return u
}

func accepted(t *testing.T, res *response) flowUpload {
	t.Helper()
	var u flowUpload
	res.want(http.StatusAccepted).json(&u)
	if u.ID == uuid.Nil || u.Status != "pending" || res.Header.Get("Location") == "" {
		t.Fatalf("%s: answer %+v, Location %q", res.req, u, res.Header.Get("Location"))
	}
	return u
}

// csvRows makes a CSV file of n rows; every tenth is too hot for the
// test pipeline's schema.
func csvRows(n int) []byte {
	var b bytes.Buffer
	b.WriteString("ts,station,temp\n")
	start := time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)
	for i := range n {
		temp := fmt.Sprintf("%d.5", i%30)
		if i%10 == 9 {
			temp = "99"
		}
		fmt.Fprintf(&b, "%s,st-%d,%s\n", start.Add(time.Duration(i)*time.Second).Format(time.RFC3339), i%7, temp)
	}
	return b.Bytes()
}

const uploadPipeline = `{"name":"files","kind":"webhook","mapping":{"timestamp":{"path":"ts"},"fields":{"station":{"type":"string"},"temp":{"type":"number"}}},
	"validation":{"schema":{"type":"object","properties":{"temp":{"type":"number","maximum":60}}}}}`

func TestUploads(t *testing.T) {
	eachBackend(t, func(t *testing.T, backend string) {
		ts := startServer(t, backend)
		k, teamA := newFlowKit(t, ts, "ada@example.com", "Acme")
		p := k.create(uploadPipeline)

		// CSV, raw body: 2,500 rows in three chunks of at most 1,000.
		u := accepted(t, k.upload(p, "", "text/csv", csvRows(2500), false))
		if u.Format != "csv" {
			t.Fatalf("format %q, want csv", u.Format)
		}
		u = k.waitUpload(p, u.ID)
		if u.Status != "done" || u.RowsTotal == nil || *u.RowsTotal != 2500 || u.RowsDone != 2500 || u.Accepted != 2250 || u.Rejected != 250 || u.Progress != 1 {
			t.Fatalf("CSV upload = %+v", u)
		}
		if n := ts.count(`SELECT count(*) FROM records WHERE pipeline_id = ?`, p.ID); n != 2250 {
			t.Fatalf("%d records stored, want 2250", n)
		}
		runs := k.runs(p)
		if len(runs) != 3 || runs[0].Trigger != "upload" || runs[0].Fetched+runs[1].Fetched+runs[2].Fetched != 2500 {
			t.Fatalf("runs = %+v, want 3 upload runs of 2,500 rows", runs)
		}
		recs := k.records(p)
		// Row 2,500 is too hot; row 2,499 is the newest record.
		if last := recs[len(recs)-1]; last.Data["station"] != "st-6" || last.Data["temp"] != 8.5 || !last.TS.Equal(time.Date(2026, 4, 1, 0, 41, 38, 0, time.UTC)) {
			t.Fatalf("newest record = %+v", last)
		}

		// JSON array in a multipart form, known by its file name.
		u = accepted(t, k.uploadForm(p, "batch.json", "application/octet-stream",
			[]byte(`[{"ts":"2026-04-02T00:00:00Z","station":"j1","temp":1},{"ts":"2026-04-02T00:00:01Z","station":"j2","temp":2}]`)))
		if u.Format != "json" || u.Filename != "batch.json" {
			t.Fatalf("form upload = %+v", u)
		}
		if u = k.waitUpload(p, u.ID); u.Status != "done" || u.Accepted != 2 {
			t.Fatalf("JSON upload = %+v", u)
		}
		// NDJSON by Content-Type, sent without a length.
		u = accepted(t, k.upload(p, "", "application/x-ndjson",
			[]byte("{\"ts\":\"2026-04-03T00:00:00Z\",\"station\":\"n1\",\"temp\":3}\n{\"ts\":\"2026-04-03T00:00:01Z\",\"station\":\"n2\",\"temp\":\"warm\"}\n"), true))
		if u = k.waitUpload(p, u.ID); u.Status != "done" || u.Format != "ndjson" || u.Accepted != 1 || u.Rejected != 1 {
			t.Fatalf("NDJSON upload = %+v", u)
		}
		// Sniffed: a generic Content-Type, JSON by its first byte.
		u = accepted(t, k.upload(p, "", "application/octet-stream", []byte(` [{"ts":"2026-04-04T00:00:00Z","station":"s","temp":4}]`), false))
		if u = k.waitUpload(p, u.ID); u.Format != "json" || u.Status != "done" || u.Accepted != 1 {
			t.Fatalf("sniffed upload = %+v", u)
		}

		// A broken CSV file fails naming the row and column; nothing of it
		// is stored and the file is kept.
		broken := []byte("ts,station,temp\n2026-04-05T00:00:00Z,ok,1\n2026-04-05T00:00:01Z,b\"ad,2\n")
		before := ts.count(`SELECT count(*) FROM records WHERE pipeline_id = ?`, p.ID)
		u = accepted(t, k.upload(p, "?filename=broken.csv", "", broken, false))
		u = k.waitUpload(p, u.ID)
		if u.Status != "failed" || !strings.HasPrefix(u.Error, "CSV row 3, column 23 (line 3): a quote") || u.RowsDone != 0 {
			t.Fatalf("broken CSV upload = %+v", u)
		}
		if n := ts.count(`SELECT count(*) FROM records WHERE pipeline_id = ?`, p.ID); n != before {
			t.Fatalf("a broken file stored %d records", n-before)
		}
		if runs := k.runs(p); runs[0].Error != u.Error || runs[0].Trigger != "upload" || runs[0].Fetched != 0 {
			t.Fatalf("newest run = %+v, want the failed upload run", runs[0])
		}
		res := k.c.do("GET", "/api/v1/pipelines/"+p.ID.String()+"/uploads/"+u.ID.String()+"/file", nil).want(http.StatusOK)
		if !bytes.Equal(res.Body, broken) {
			t.Fatalf("kept file = %q, want %q", res.Body, broken)
		}
		// A broken NDJSON file names the line.
		u = accepted(t, k.upload(p, "?format=ndjson", "text/plain", []byte("{\"a\":1}\n{\"a\":2}\n{\"a\" 3}\n"), false))
		if u = k.waitUpload(p, u.ID); u.Status != "failed" || !strings.HasPrefix(u.Error, "NDJSON line 3, column 6 (byte offset 21):") {
			t.Fatalf("broken NDJSON upload = %+v", u)
		}
		// A finished upload's file is gone.
		var list struct {
			Uploads []flowUpload `json:"uploads"`
		}
		k.c.do("GET", "/api/v1/pipelines/"+p.ID.String()+"/uploads", nil).want(http.StatusOK).json(&list)
		if len(list.Uploads) != 6 || list.Uploads[0].Status != "failed" || list.Uploads[5].Status != "done" {
			t.Fatalf("uploads = %+v", list.Uploads)
		}
		k.c.do("GET", "/api/v1/pipelines/"+p.ID.String()+"/uploads/"+list.Uploads[5].ID.String()+"/file", nil).wantProblem(http.StatusGone)

		// Bad requests.
		k.upload(p, "", "text/csv", nil, false).wantProblem(http.StatusBadRequest)
		k.upload(p, "?format=xml", "", []byte("<a/>"), false).wantProblem(http.StatusUnprocessableEntity)
		k.c.do("POST", "/api/v1/pipelines/"+p.ID.String()+"/pause", nil).want(http.StatusOK)
		k.upload(p, "", "text/csv", csvRows(1), false).wantProblem(http.StatusConflict)
		k.c.do("POST", "/api/v1/pipelines/"+p.ID.String()+"/resume", nil).want(http.StatusOK)

		// Isolation: another team sees and touches nothing of team A's.
		other, _ := newFlowKit(t, ts, "eve@example.com", "Evil")
		other.upload(p, "", "text/csv", csvRows(1), false).wantProblem(http.StatusNotFound)
		other.upload(p, "?team="+teamA.String(), "text/csv", csvRows(1), false).wantProblem(http.StatusNotFound)
		for _, path := range []string{"/uploads", "/uploads/" + u.ID.String(), "/uploads/" + u.ID.String() + "/file"} {
			other.c.do("GET", "/api/v1/pipelines/"+p.ID.String()+path, nil).wantProblem(http.StatusNotFound)
		}
		// A viewer of team A may look, not upload.
		_, viewer := ts.issueToken(teamA, auth.Viewer)
		vk := &flowKit{t: t, ts: ts, c: ts.bearer(viewer)}
		vk.upload(p, "", "text/csv", csvRows(1), false).wantProblem(http.StatusForbidden)
		vk.c.do("GET", "/api/v1/pipelines/"+p.ID.String()+"/uploads/"+u.ID.String(), nil).want(http.StatusOK)
		// Without credentials: 401.
		(&flowKit{t: t, ts: ts, c: ts.client()}).upload(p, "", "text/csv", csvRows(1), false).wantProblem(http.StatusUnauthorized)
		if n := ts.count(`SELECT count(*) FROM uploads`); n != 6 {
			t.Fatalf("%d uploads stored, want 6", n)
		}
	})
}

func TestUploadTooLarge(t *testing.T) {
	eachBackend(t, func(t *testing.T, backend string) {
		cfg := testConfig(t, backend)
		cfg.MaxUploadBytes = 4096
		ts := serveConfig(t, backend, cfg)
		k, _ := newFlowKit(t, ts, "ada@example.com", "Acme")
		p := k.create(uploadPipeline)
		big := csvRows(200) // ~7 KB
		k.upload(p, "", "text/csv", big, false).wantProblem(http.StatusRequestEntityTooLarge)
		k.upload(p, "", "text/csv", big, true).wantProblem(http.StatusRequestEntityTooLarge)
		k.uploadForm(p, "big.csv", "text/csv", big).wantProblem(http.StatusRequestEntityTooLarge)
		if n := ts.count(`SELECT count(*) FROM uploads`); n != 0 {
			t.Fatalf("%d oversized uploads recorded", n)
		}
		// Just under the limit is fine, though larger than the API's own
		// body limit would be for other routes (1 MiB there; 4 KiB here).
		u := accepted(t, k.upload(p, "", "text/csv", csvRows(50), false))
		if u = k.waitUpload(p, u.ID); u.Status != "done" || u.RowsDone != 50 {
			t.Fatalf("upload under the limit = %+v", u)
		}
	})
}

func TestUploadLargerThanAPIBodyLimit(t *testing.T) {
	cfg := testConfig(t, "sqlite")
	cfg.MaxBodyBytes = 2048
	ts := serveConfig(t, "sqlite", cfg)
	k, _ := newFlowKit(t, ts, "ada@example.com", "Acme")
	p := k.create(uploadPipeline)
	u := accepted(t, k.upload(p, "", "text/csv", csvRows(300), true))
	if u = k.waitUpload(p, u.ID); u.Status != "done" || u.RowsDone != 300 {
		t.Fatalf("upload larger than the API body limit = %+v", u)
	}
	// The other routes keep the API's limit.
	k.c.do("POST", "/api/v1/pipelines", strings.Repeat(" ", 4096)+uploadPipeline).wantProblem(http.StatusRequestEntityTooLarge)
	// The plain upload routes are in the OpenAPI document.
	doc := ts.client().do("GET", "/api/v1/openapi.json", nil).want(http.StatusOK)
	for _, op := range []string{"create-upload", "get-upload-file", "get-upload", "list-uploads"} {
		if !bytes.Contains(doc.Body, []byte(`"operationId":"`+op+`"`)) {
			t.Errorf("the OpenAPI document lacks %s", op)
		}
	}
}

// TestUploadsS3 stores uploads in an S3 bucket served in-process by
// gofakes3.
func TestUploadsS3(t *testing.T) {
	t.Parallel()
	backend := s3mem.New()
	if err := backend.CreateBucket("tributary-uploads"); err != nil {
		t.Fatal(err)
	}
	s3 := httptest.NewServer(gofakes3.New(backend).Server())
	t.Cleanup(s3.Close)

	cfg := testConfig(t, "sqlite")
	cfg.BlobURL = "s3://tributary-uploads?" + url.Values{
		"endpoint": {s3.URL}, "use_path_style": {"true"}, "region": {"us-east-1"}, "anonymous": {"true"}, "disable_https": {"true"},
		"request_checksum_calculation": {"when_required"}, "response_checksum_validation": {"when_required"},
	}.Encode()
	must(t, cfg.Validate(false))
	ts := serveConfig(t, "sqlite", cfg)
	k, _ := newFlowKit(t, ts, "ada@example.com", "Acme")
	p := k.create(uploadPipeline)

	u := accepted(t, k.upload(p, "", "text/csv", csvRows(1200), false))
	if u = k.waitUpload(p, u.ID); u.Status != "done" || u.RowsDone != 1200 || u.Accepted != 1080 {
		t.Fatalf("S3 upload = %+v", u)
	}
	// A broken file stays in the bucket for inspection.
	broken := []byte("a,b\n1,2,3\n")
	u = accepted(t, k.upload(p, "", "text/csv", broken, false))
	if u = k.waitUpload(p, u.ID); u.Status != "failed" || !strings.HasPrefix(u.Error, "CSV row 2 (line 2): has 3 fields but the header has 2") {
		t.Fatalf("broken S3 upload = %+v", u)
	}
	objs, err := backend.ListBucket("tributary-uploads", nil, gofakes3.ListBucketPage{})
	must(t, err)
	if len(objs.Contents) != 1 || !strings.HasSuffix(objs.Contents[0].Key, u.ID.String()+".csv") {
		t.Fatalf("bucket holds %+v, want only the broken file", objs.Contents)
	}
	obj, err := backend.GetObject("tributary-uploads", objs.Contents[0].Key, nil)
	must(t, err)
	got, _ := io.ReadAll(obj.Contents)
	obj.Contents.Close()
	if !bytes.Equal(got, broken) {
		t.Fatalf("stored file = %q, want %q", got, broken)
	}
}
