module github.com/inproc-go/templates/tests

go 1.25.0

require (
	github.com/MicahParks/jwkset v0.11.4
	github.com/golang-jwt/jwt/v5 v5.3.1
	golang.org/x/mod v0.40.0
)

require golang.org/x/time v0.9.0 // indirect
