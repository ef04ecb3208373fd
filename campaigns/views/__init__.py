"""The marketer's pages at /campaigns/: thin views that parse input, call a service or selector,
and render. `composer` (compose, check, test), `campaigns` (list, one campaign, its progress),
`sending` (recipients and the confirmation), `results` (across campaigns, the CSV), `access`
(the permission page); `common` holds what they share."""
