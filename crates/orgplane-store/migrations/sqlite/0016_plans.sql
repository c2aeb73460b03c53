-- Activation of a trial organization: who gets the bills and how they are paid (a card
-- reference — brand, last 4 digits, expiry — or invoices; never a card number), and when the
-- trial-ending notice went out.
ALTER TABLE organizations ADD COLUMN activated_at BIGINT;
ALTER TABLE organizations ADD COLUMN billing_contact TEXT;
ALTER TABLE organizations ADD COLUMN payment_method TEXT;
ALTER TABLE organizations ADD COLUMN trial_reminded_at BIGINT;
