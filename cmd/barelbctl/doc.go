// Command barelbctl is barelb's command-line tool, one subcommand per task (validate, keygen, status, version).
package main
