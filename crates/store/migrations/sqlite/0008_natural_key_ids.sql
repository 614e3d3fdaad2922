-- Mentions and reviews whose platform key is plain get a readable id in the
-- platform's order (`from_natural_key` in resonanz-core, same rule), so bulk
-- imports fill the id index at its end. Events name the new ids; the text is
-- replaced in place so the payload stays as the projector writes it.
CREATE TEMP TABLE renamed_ids (old_id TEXT PRIMARY KEY, new_id TEXT NOT NULL, field TEXT NOT NULL);

INSERT INTO renamed_ids (old_id, new_id, field)
SELECT id, 'mn_' || platform || ':' || external_id, 'mention_id' FROM mentions
 WHERE platform <> '' AND external_id <> ''
   AND platform NOT GLOB '*[^A-Za-z0-9._-]*' AND external_id NOT GLOB '*[^A-Za-z0-9._-]*'
   AND length(platform) + length(external_id) <= 64;

INSERT INTO renamed_ids (old_id, new_id, field)
SELECT id, 'rv_' || portal || ':' || external_id, 'review_id' FROM reviews
 WHERE portal <> '' AND external_id <> ''
   AND portal NOT GLOB '*[^A-Za-z0-9._-]*' AND external_id NOT GLOB '*[^A-Za-z0-9._-]*'
   AND length(portal) + length(external_id) <= 64;

UPDATE events
   SET payload = (SELECT replace(events.payload, '"' || r.field || '":"' || r.old_id || '"',
                                 '"' || r.field || '":"' || r.new_id || '"')
                    FROM renamed_ids r
                   WHERE r.old_id = json_extract(events.payload, '$.' || r.field))
 WHERE kind IN ('mention_captured', 'review_captured')
   AND EXISTS (SELECT 1 FROM renamed_ids r WHERE r.old_id = json_extract(events.payload, '$.' || r.field));

UPDATE mentions SET id = (SELECT new_id FROM renamed_ids WHERE old_id = mentions.id)
 WHERE id IN (SELECT old_id FROM renamed_ids);
UPDATE reviews SET id = (SELECT new_id FROM renamed_ids WHERE old_id = reviews.id)
 WHERE id IN (SELECT old_id FROM renamed_ids);

DROP TABLE renamed_ids;
