package signature_test

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/tributary-dev/tributary/internal/signature"
)

func Example() {
	secret, err := signature.ParseSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	if err != nil {
		panic(err)
	}
	body := []byte(`{"test": 2432232314}`)
	sent := time.Unix(1614265330, 0)

	// The sender (the HTTP sink) signs a delivery.
	h := http.Header{}
	signature.SetHeaders(h, "msg_p5jXN8AQM9LWM0D4loKWxJek", sent, body, secret)
	fmt.Println(h.Get(signature.HeaderSignature))

	// The receiver (webhook ingest) verifies it, rejecting replays.
	v, err := signature.NewVerifier(signature.Config{
		Secrets:     []signature.Secret{secret},
		Replay:      signature.NewMemoryGuard(0),
		ReplayScope: "pipeline-id",
	})
	if err != nil {
		panic(err)
	}
	received := sent.Add(2 * time.Second)
	fmt.Println(v.Verify(context.Background(), h, body, received))
	fmt.Println(v.Verify(context.Background(), h, body, received))
	// Output:
	// v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=
	// <nil>
	// webhook-id was already received
}
