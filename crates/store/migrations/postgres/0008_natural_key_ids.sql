-- Mentions and reviews whose platform key is plain get a readable id in the
-- platform's order (`from_natural_key` in resonanz-core, same rule), so bulk
-- imports fill the id index at its end. Events name the new ids; the text is
-- replaced in place so the payload stays as the projector writes it.
CREATE TEMP TABLE renamed_ids (old_id TEXT PRIMARY KEY, new_id TEXT NOT NULL, field TEXT NOT NULL);

INSERT INTO renamed_ids (old_id, new_id, field)
SELECT id, 'mn_' || platform || ':' || external_id, 'mention_id' FROM mentions
 WHERE platform ~ '^[A-Za-z0-9._-]+$' AND external_id ~ '^[A-Za-z0-9._-]+$'
   AND length(platform) + length(external_id) <= 64;

INSERT INTO renamed_ids (old_id, new_id, field)
SELECT id, 'rv_' || portal || ':' || external_id, 'review_id' FROM reviews
 WHERE portal ~ '^[A-Za-z0-9._-]+$' AND external_id ~ '^[A-Za-z0-9._-]+$'
   AND length(portal) + length(external_id) <= 64;

UPDATE events e
   SET payload = replace(e.payload, '"' || r.field || '":"' || r.old_id || '"',
                         '"' || r.field || '":"' || r.new_id || '"')
  FROM renamed_ids r
 WHERE e.kind IN ('mention_captured', 'review_captured')
   AND r.old_id = (e.payload::jsonb ->> r.field);

UPDATE mentions m SET id = r.new_id FROM renamed_ids r WHERE m.id = r.old_id;
UPDATE reviews v SET id = r.new_id FROM renamed_ids r WHERE v.id = r.old_id;

DROP TABLE renamed_ids;
