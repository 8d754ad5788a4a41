package cli

// LoadJournal lets the external tests (package cli_test) read a journal.
var LoadJournal = loadJournal
