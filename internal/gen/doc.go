// Package gen holds Parley's code generators and their source tables.
//
// headers.tsv is the one header table (name, compact form, kind, typed,
// RFC); main.go (build-ignored) turns it into sip/zheaders.go. Run
// `go generate ./sip` after editing the table.
package gen
