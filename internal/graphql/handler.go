package graphql

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	coderws "github.com/coder/websocket"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/tributary-dev/tributary/internal/account"
)

// Options limit the queries the handler runs.
type Options struct {
	// MaxComplexity is the highest complexity of a query: every field
	// counts 1, and a list field counts its page size times what each of
	// its elements selects (pageCosts). Zero means DefaultMaxComplexity.
	MaxComplexity int
	// MaxQueryBytes is the longest query document. Zero means
	// DefaultMaxQueryBytes.
	MaxQueryBytes int
	// MaxDepth is the deepest nesting of fields (introspection's fields
	// do not count). Zero means DefaultMaxDepth.
	MaxDepth int
	// MaxAliases is the most aliased fields an operation may hold,
	// counting a fragment's aliases every time it is spread. Zero means
	// DefaultMaxAliases.
	MaxAliases int
	// PersistedQueries is how many queries the server holds for
	// automatic persisted queries (a request sending only a query's
	// sha256Hash in extensions.persistedQuery). Zero means
	// DefaultPersistedQueries.
	PersistedQueries int
	// SubscriptionBuffer is how many broker messages a subscription holds
	// before it lags; zero means the broker's default.
	SubscriptionBuffer int
	// InitTimeout bounds the wait for a WebSocket's connection_init. Zero
	// means DefaultInitTimeout.
	InitTimeout time.Duration
	// KeepAlive is the interval of the WebSocket's pings. Zero means
	// DefaultKeepAlive.
	KeepAlive time.Duration
	// Logger receives the failures of the server. Nil means
	// slog.Default().
	Logger *slog.Logger
	// Page, when set, answers a browser's GET (Accept: text/html,
	// no Upgrade): the GraphiQL page.
	Page http.Handler
}

// Defaults of Options.
const (
	DefaultMaxComplexity = 50000
	DefaultMaxQueryBytes = 16 << 10
	DefaultMaxDepth      = 8
	DefaultMaxAliases    = 15
	// DefaultPersistedQueries holds at most 4 MiB of queries of the
	// default size limit.
	DefaultPersistedQueries = 256
	DefaultInitTimeout      = 10 * time.Second
	DefaultKeepAlive        = 25 * time.Second
)

// NewHandler returns the GraphQL endpoint: queries and mutations over
// POST (none over GET, so a link or an image tag can never run a
// mutation), subscriptions over WebSocket (graphql-transport-ws, on GET
// with Upgrade), introspection on, within the limits of cfg. It expects
// the principal of a POST in the request's context
// (account.PrincipalFrom), as httpapi's authentication middleware sets
// it; mount it on httpapi's mux for POST and GET.
func NewHandler(cfg Options, deps Deps) http.Handler {
	if cfg.MaxComplexity == 0 {
		cfg.MaxComplexity = DefaultMaxComplexity
	}
	if cfg.MaxQueryBytes == 0 {
		cfg.MaxQueryBytes = DefaultMaxQueryBytes
	}
	if cfg.MaxDepth == 0 {
		cfg.MaxDepth = DefaultMaxDepth
	}
	if cfg.MaxAliases == 0 {
		cfg.MaxAliases = DefaultMaxAliases
	}
	if cfg.PersistedQueries == 0 {
		cfg.PersistedQueries = DefaultPersistedQueries
	}
	if cfg.InitTimeout == 0 {
		cfg.InitTimeout = DefaultInitTimeout
	}
	if cfg.KeepAlive == 0 {
		cfg.KeepAlive = DefaultKeepAlive
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	r := &Resolver{svc: deps.Service, acc: deps.Accounts, deps: deps, opts: cfg}
	schema := Config{Resolvers: r}
	pageCosts(&schema.Complexity)
	h := handler.New(NewExecutableSchema(schema))
	h.AddTransport(transport.Websocket{
		// Any origin may connect: a token is no ambient credential, and
		// a session is checked against the origin in init.
		Implementation: wsImplementation{AcceptOptions: coderws.AcceptOptions{InsecureSkipVerify: true}},
		InitFunc:       r.initWebsocket,
		InitTimeout:    cfg.InitTimeout,
		// The keep-alive also serves graphql-ws clients.
		KeepAlivePingInterval: cfg.KeepAlive,
		ErrorFunc: func(ctx context.Context, err error) {
			if !errors.Is(err, context.Canceled) {
				cfg.Logger.DebugContext(ctx, "graphql websocket", "err", err)
			}
		},
	})
	h.AddTransport(transport.POST{})
	h.Use(extension.Introspection{})
	h.Use(maxQuerySize(cfg.MaxQueryBytes))
	h.Use(newPersistedQueries(cfg.PersistedQueries))
	h.Use(shapeLimits{depth: cfg.MaxDepth, aliases: cfg.MaxAliases})
	h.Use(extension.FixedComplexityLimit(cfg.MaxComplexity))
	h.AroundOperations(func(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
		return next(withLoaders(ctx))
	})
	h.SetErrorPresenter(presentError(cfg.Logger))
	h.SetRecoverFunc(func(ctx context.Context, v any) error {
		cfg.Logger.ErrorContext(ctx, "panic in graphql resolver", "panic", fmt.Sprint(v))
		return fmt.Errorf("panic in resolver: %v", v)
	})
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method == http.MethodGet && req.Header.Get("Upgrade") == "" {
			if cfg.Page != nil && strings.Contains(req.Header.Get("Accept"), "text/html") {
				cfg.Page.ServeHTTP(w, req)
				return
			}
			w.Header().Set("Allow", "POST")
			http.Error(w, "GraphQL queries and mutations are sent with POST; GET serves WebSocket subscriptions only.", http.StatusMethodNotAllowed)
			return
		}
		ctx := context.WithValue(req.Context(), sameOriginKey{}, sameOrigin(req))
		h.ServeHTTP(w, req.WithContext(ctx))
	})
}

type sameOriginKey struct{}

// sameOrigin says whether a request comes from the server's own pages:
// without an Origin header (not a browser), or with one naming the host
// the request was sent to.
func sameOrigin(req *http.Request) bool {
	o := req.Header.Get("Origin")
	if o == "" {
		return true
	}
	u, err := url.Parse(o)
	return err == nil && strings.EqualFold(u.Host, req.Host)
}

// closeForbidden is the close code of a refused connection_init
// (graphql-transport-ws: 4403 Forbidden).
const closeForbidden = 4403

// initWebsocket authenticates a WebSocket on connection_init: an API
// token in the payload ({"token": "trb_…"} or {"Authorization": "Bearer
// trb_…"}), else the principal of the upgrade request (an Authorization
// header, or the session cookie — the latter only from the server's own
// origin, since a browser sends the cookie to any site's socket).
func (r *Resolver) initWebsocket(ctx context.Context, payload transport.InitPayload) (context.Context, *transport.InitPayload, error) {
	refuse := func(msg string) (context.Context, *transport.InitPayload, error) {
		return transport.WithWebsocketCloseCode(transport.AppendCloseReason(ctx, msg), closeForbidden), nil, errors.New(msg)
	}
	tok := payload.GetString("token")
	if tok == "" {
		if a := payload.Authorization(); a != "" {
			scheme, rest, _ := strings.Cut(a, " ")
			if !strings.EqualFold(scheme, "Bearer") {
				return refuse("Use {\"token\": \"<API token>\"} or Authorization: Bearer <API token>.")
			}
			tok = strings.TrimSpace(rest)
		}
	}
	if tok != "" {
		if r.acc == nil {
			return refuse("This server does not authenticate tokens over GraphQL WebSockets.")
		}
		p, err := r.acc.AuthenticateToken(ctx, tok)
		if err != nil {
			if errors.Is(err, account.ErrUnauthenticated) {
				return refuse("The API token is not valid.")
			}
			r.opts.Logger.ErrorContext(ctx, "graphql websocket: authenticate token", "err", err)
			return refuse("Authentication is unavailable; try again shortly.")
		}
		return account.WithPrincipal(ctx, p), nil, nil
	}
	p := account.PrincipalFrom(ctx)
	if p == nil {
		return refuse("Authenticate: send {\"token\": \"<API token>\"} in connection_init.")
	}
	if p.SessionHash != nil {
		if ok, _ := ctx.Value(sameOriginKey{}).(bool); !ok {
			return refuse("A session may subscribe from this server's pages only; use an API token.")
		}
	}
	return ctx, nil, nil
}

// maxQuerySize refuses query documents longer than n bytes before they
// are parsed.
type maxQuerySize int

var (
	_ graphql.HandlerExtension          = maxQuerySize(0)
	_ graphql.OperationParameterMutator = maxQuerySize(0)
)

// ExtensionName names the extension.
func (maxQuerySize) ExtensionName() string { return "MaxQuerySize" }

// Validate accepts any schema.
func (maxQuerySize) Validate(graphql.ExecutableSchema) error { return nil }

// MutateOperationParameters refuses a query over the limit.
func (n maxQuerySize) MutateOperationParameters(_ context.Context, p *graphql.RawParams) *gqlerror.Error {
	if len(p.Query) > int(n) {
		return &gqlerror.Error{
			Message:    fmt.Sprintf("The query is %d bytes long; the limit is %d.", len(p.Query), int(n)),
			Extensions: map[string]any{"code": CodeQueryTooLarge},
		}
	}
	return nil
}
