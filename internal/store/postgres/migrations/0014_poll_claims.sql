-- Polls are claimed from poll_schedules in batches (issue 10) instead of
-- one River job per poll: a claim leases every due row it takes to its
-- node (lease_owner, so that a restarted node frees its dead process's
-- leases at once), and a "run now" marks the row manual until its poll
-- commits.
ALTER TABLE poll_schedules
    ADD COLUMN lease_owner text,
    ADD COLUMN manual boolean NOT NULL DEFAULT false;
