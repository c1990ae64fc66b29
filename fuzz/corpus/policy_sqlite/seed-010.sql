  
-- a
/* b */ UPDATE analytics_db__events SET n = 1