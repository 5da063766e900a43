CREATE EXTERNAL TABLE customers (customer_id VARCHAR, sex VARCHAR, city_name VARCHAR, signup_at TIMESTAMP)
  STORED AS CSV LOCATION '$DATA/customers.csv' OPTIONS ('format.has_header' 'true');
CREATE EXTERNAL TABLE orders (order_id BIGINT, customer_id VARCHAR, ts TIMESTAMP, amount DOUBLE, category VARCHAR)
  STORED AS CSV LOCATION '$DATA/orders.csv' OPTIONS ('format.has_header' 'true');
