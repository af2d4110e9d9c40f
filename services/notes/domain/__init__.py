"""What staff do to an encounter and its note, with the rules that decide whether they
may: edit, draft, sign, amend, regenerate, purge. The staff API's routes, the CLI and the
scheduler call these; each refusal is a type of ``domain.errors``.

Functions take the caller's ``AsyncSession`` and never commit, so a refusal rolls back
everything the request did (and the API's audit row lands in the same transaction).
Who may call them at all (role, own encounter) is checked before, at the caller's door
(``services.notes.auth``).
"""
