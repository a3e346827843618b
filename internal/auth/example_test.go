package auth_test

import (
	"fmt"
	"log"
	"strings"

	"github.com/tributary-dev/tributary/internal/auth"
)

func Example_login() {
	// Sign-up: check the policy, store only the hash.
	const pw = "correct horse battery staple"
	if err := auth.ValidatePassword(pw); err != nil {
		log.Fatal(err)
	}
	stored, err := auth.HashPassword(pw)
	if err != nil {
		log.Fatal(err)
	}

	// Login of a known user.
	ok, err := auth.VerifyPassword(pw, stored)
	if err != nil {
		log.Fatal(err) // the stored hash is corrupt
	}
	fmt.Println("verified:", ok)
	// After a successful login: were the parameters changed since? If so,
	// store auth.HashPassword(pw) in place of the old hash.
	fmt.Println("needs rehash:", auth.NeedsRehash(stored))

	// Login naming an unknown user: spend the same time, then refuse.
	auth.VerifyDummy("whatever they typed")

	// The session: the cookie gets the plaintext, the database the hash.
	cookie, hash := auth.NewSessionID()
	fmt.Println(len(cookie), len(hash))
	// Output:
	// verified: true
	// needs rehash: false
	// 43 32
}

func ExampleNewToken() {
	plaintext, hash := auth.NewToken()
	// Store hash and the hint; show plaintext once.
	hint := auth.TokenHint(plaintext)
	fmt.Println(strings.HasPrefix(hint, "trb_"), len(hash))

	// A request presents a bearer token: check its form, then look up its hash.
	presented := plaintext
	if auth.LooksLikeToken(presented) {
		lookup := auth.HashToken(presented)
		fmt.Println(string(lookup) == string(hash))
	}
	fmt.Println(auth.LooksLikeToken("trb_typo"))
	// Output:
	// true 32
	// true
	// false
}

func ExampleRole_AtLeast() {
	role, err := auth.ParseRole("editor")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(role.AtLeast(auth.Viewer), role.AtLeast(auth.Admin))
	_, err = auth.ParseRole("root")
	fmt.Println(err)
	// Output:
	// true false
	// auth: invalid role "root": want owner, admin, editor or viewer
}
