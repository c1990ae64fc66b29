-- x
DELETE FROM analytics_db__events