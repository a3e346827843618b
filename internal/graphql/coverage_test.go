package graphql_test

import (
	"regexp"
	"slices"
	"testing"

	"github.com/tributary-dev/tributary/internal/graphql"
)

// notInMatrix names the root fields the role matrix cannot run, with the
// test that covers them instead.
var notInMatrix = map[string]string{
	// Users only (an API token belongs to one team): TestTeamAndMemberRules.
	"createTeam": "TestTeamAndMemberRules",
}

// TestMatrixCoversSchema fails when a field is added to the schema
// without a row in TestMatrix: every field of Query, Mutation and
// Subscription, and every field of Pipeline (a row Pipeline.NAME, or in
// the selection of the Pipeline.fields row).
func TestMatrixCoversSchema(t *testing.T) {
	schema := graphql.NewExecutableSchema(graphql.Config{}).Schema()
	rows := map[string]bool{}
	for _, f := range matrixFields() {
		rows[f.name] = true
	}
	// The Pipeline.NAME rows ask for pipeline(id).
	rows["pipeline"] = rows["Pipeline.fields"]
	for _, s := range matrixSubscriptions {
		rows["Subscription."+s.name] = true
	}
	for _, typ := range []string{"Query", "Mutation", "Subscription"} {
		def := schema.Types[typ]
		if def == nil {
			t.Fatalf("the schema has no %s", typ)
		}
		for _, fd := range def.Fields {
			name := fd.Name
			if typ == "Subscription" {
				name = typ + "." + name
			}
			if fd.Name[0] == '_' || rows[name] || notInMatrix[fd.Name] != "" {
				continue
			}
			t.Errorf("%s.%s has no row in TestMatrix (matrixFields)", typ, fd.Name)
		}
	}
	selected := regexp.MustCompile(`[A-Za-z]+`).FindAllString(fields, -1)
	for _, fd := range schema.Types["Pipeline"].Fields {
		if fd.Name[0] == '_' || rows["Pipeline."+fd.Name] || slices.Contains(selected, fd.Name) {
			continue
		}
		t.Errorf("Pipeline.%s has no row in TestMatrix (matrixFields) and is not in the Pipeline.fields row", fd.Name)
	}
	// The list's children: every field of Pipeline through the
	// pipelines connection (the loaders' path).
	listed := regexp.MustCompile(`[A-Za-z]+`).FindAllString(listChildren, -1)
	for _, fd := range schema.Types["Pipeline"].Fields {
		if fd.Name[0] != '_' && !slices.Contains(listed, fd.Name) {
			t.Errorf("Pipeline.%s is not in the pipelines.children row of TestMatrix (listChildren)", fd.Name)
		}
	}
}
