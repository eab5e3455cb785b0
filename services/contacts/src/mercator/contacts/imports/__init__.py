"""Importing a client list: client cards, contact persons, history entries and open deals from CSV or XLSX,
as a job.

Why the job lives in contacts and not in the gateway: three of the four kinds of row are contacts' own records
(cards, persons, history), and so are the rules that say two cards are likely one client, and the fourth
(open deals) hangs off the cards the import finds here. Here a batch of rows is one transaction through
contacts' own use cases (`cards.add_companies`, the history writer), with each row's events in the outbox and
each row's outcome (`import_rows`) committed in that same transaction. That outcome row is the idempotency key
of job + row: a row that has one is never written again, so an import interrupted anywhere (a crash, a
restart, a cancelled task) resumes from its first row without an outcome and creates nothing twice. As a
client of the public API, the gateway would pay one HTTP call, one token check and one idempotency record per
row, and still need a store of its own for the job. Open deals are the deals service's: each goes through
its public API with an Idempotency-Key made of the job and the row, so a row sent again (its outcome lost with
a commit that failed, or the job resumed) gets back the deal opened the first time; while deals cannot be
reached the job stops as failed, rejecting nothing, and is resumed.

A job keeps the file and who started it, so it outlives the request and the process: the runner in each
contacts process picks up queued jobs and resumes running ones at start. A dry run goes through the same
rows and rules and writes only the outcomes: every row it would reject and why, and every likely duplicate
(of a card already there, or of an earlier row of the same file), with what the chosen policy (skip, merge
or create) would do with it.

The package: `sheets` reads a file's rows and maps its columns (pure), `reading` does that in worker processes
under limits, `mappings` keeps named column mappings, `jobs` opens, fills and queues a job, `rows` turns rows
into records (`cells` reads a spreadsheet's values), `run` is the job itself, and `api` its routes.
"""
