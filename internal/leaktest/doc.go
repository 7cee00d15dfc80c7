// Package leaktest finds goroutines that outlive a package's tests, in the
// manner of net/http's main_test.go: TestMain calls Main, which fails the
// run when a goroutine running the named code is still alive after a
// bounded wait. It implements no RFC; it supports the tests of the
// packages that do (DESIGN.md: "TestMain checks for leaked goroutines").
package leaktest
