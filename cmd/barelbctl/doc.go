// Command barelbctl is barelb's command-line tool, one subcommand per task (validate, version, ...).
package main
