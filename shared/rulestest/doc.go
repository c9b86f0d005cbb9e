// Package rulestest holds the tests of the repository's firestore.rules.
//
// The rules are loaded into a fresh Firestore-emulator project per test
// (PUT /emulator/v1/projects/P:securityRules), data is seeded with an
// Admin-SDK client (which bypasses rules), and every client request goes
// through Firestore's REST API with a real Auth-emulator ID token, exactly as
// the Windows agent talks to Firestore: GET, PATCH with and without an update
// mask, DELETE, :commit with an update mask plus server-timestamp transforms,
// :batchWrite and :runQuery.
//
// The Auth emulator issues tokens for project demo-owlette; the Firestore
// emulator evaluates request.auth from any project's requests without
// checking the audience, so each test uses its own isolated project.
//
// The package has no non-test code.
package rulestest
