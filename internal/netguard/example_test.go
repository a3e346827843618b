package netguard_test

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"

	"github.com/tributary-dev/tributary/internal/netguard"
)

// Check a URL when a pipeline is saved.
func ExampleGuard_CheckURL() {
	guard := netguard.New(netguard.Config{})
	for _, u := range []string{
		"https://api.example.com/v1/items",
		"http://169.254.169.254/latest/meta-data/",
		"http://[::ffff:10.0.0.1]/",
		"http://0x7f.1/",
		"file:///etc/passwd",
	} {
		if err := guard.CheckURL(u); err != nil {
			fmt.Println("refused:", err)
			continue
		}
		fmt.Println("ok:", u)
	}
	// Output:
	// ok: https://api.example.com/v1/items
	// refused: destination 169.254.169.254 is the cloud metadata address (link-local); allow it with TRIBUTARY_ALLOW_NETWORKS
	// refused: destination ::ffff:10.0.0.1 is an IPv4-mapped form of 10.0.0.1, a private (RFC 1918) address; allow it with TRIBUTARY_ALLOW_NETWORKS
	// refused: host "0x7f.1" is a non-standard spelling of the IP address 127.0.0.1; write it as 127.0.0.1
	// refused: scheme "file" is not allowed; use http or https
}

// Fetch a URL; loopback is refused unless the operator allows it, as tests do.
func ExampleGuard_Do() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "hello")
	}))
	defer srv.Close()

	req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
	_, err := netguard.New(netguard.Config{}).Do(req)
	fmt.Println("refused:", errors.Is(err, netguard.ErrForbidden))

	nets, err := netguard.ParseNetworks("127.0.0.0/8")
	if err != nil {
		panic(err)
	}
	guard := netguard.New(netguard.Config{AllowNetworks: nets})
	resp, err := guard.Do(req)
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.StatusCode, string(body))
	// Output:
	// refused: true
	// 200 hello
}

func ExampleParseNetworks() {
	nets, err := netguard.ParseNetworks("10.20.0.0/16, 192.168.1.5, fd00::/8")
	fmt.Println(nets, err)
	_, err = netguard.ParseNetworks("10.0.0.0/8, intranet")
	fmt.Println(err)
	// Output:
	// [10.20.0.0/16 192.168.1.5/32 fd00::/8] <nil>
	// netguard: allowed network "intranet" is not a CIDR like 10.0.0.0/8 or an IP address
}
