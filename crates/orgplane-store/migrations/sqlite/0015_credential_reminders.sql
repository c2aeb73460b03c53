-- When the expiry reminder of an Azure client secret was sent (once per saved secret).
ALTER TABLE azure_credentials ADD COLUMN reminded_at BIGINT;
