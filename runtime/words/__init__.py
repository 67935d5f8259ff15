"""The operator's words: requests and questions understood deterministically first.

``understand`` turns text into a typed command intent, a question or a refusal
(rules: normalisation, number words, fuzzy typos against the site's vocabulary,
times in the site's zone); ``sign.signed_value`` is the one place a value gets its
sign from the verb; ``answer`` answers questions from the record; ``narrate``
explains a dispatch in sentences. Imports nothing heavy: ``gridaios ask`` alone
must answer from the rules in well under two seconds.
"""
