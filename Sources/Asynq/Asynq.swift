import AsynqRedis
